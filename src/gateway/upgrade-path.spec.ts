import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { UpgradePath } from './upgrade-path';

const request = (url: string, host: string | undefined = '127.0.0.1:3000') => ({ url, headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;

/** How Nest's WsAdapter reads the path of an upgrade: the answer UpgradePath must always give. */
function nestPathOf(url: string, host: string | undefined): { path: string } | { throws: true } {
  try {
    return { path: new URL(url, `ws://${host}/`).pathname };
  } catch {
    return { throws: true };
  }
}

function pathOf(paths: UpgradePath, url: string, host: string | undefined): { path: string } | { throws: true } {
  try {
    return { path: paths.of(request(url, host)) };
  } catch {
    return { throws: true };
  }
}

describe('UpgradePath', () => {
  it('reads the path of a request with or without a query, and normalises the rest as a URL does', () => {
    const paths = new UpgradePath();
    expect(paths.of(request('/ws'))).toBe('/ws');
    expect(paths.of(request('/ws?token=a.b.c'))).toBe('/ws');
    expect(paths.of(request('/a/../ws?x'))).toBe('/ws');
    expect(paths.of(request('/w%73'))).toBe('/w%73');
    expect(paths.of(request('ws://elsewhere/ws'))).toBe('/ws');
    expect(paths.of(request('//ws'))).toBe('/');
  });

  it('refuses a Host that makes no URL, however often a valid one came before it', () => {
    const paths = new UpgradePath();
    expect(paths.of(request('/ws', 'herald.example'))).toBe('/ws');
    expect(() => paths.of(request('/ws', 'bad host'))).toThrow();
    expect(() => paths.of(request('/ws?token=t', 'bad host'))).toThrow();
    expect(paths.of(request('/ws', 'herald.example'))).toBe('/ws');
  });
});

describe('UpgradePath (properties)', () => {
  it('gives the same path as new URL for any URL and Host, and throws exactly when it does', () => {
    const segment = fc.oneof(fc.constantFrom('ws', 'a', '.', '..', '', '%2e', 'x y', 'é', '\\'), fc.string({ maxLength: 4 }));
    const url = fc.oneof(
      fc.tuple(fc.array(segment, { maxLength: 4 }), fc.option(fc.string({ maxLength: 8 }), { nil: undefined })).map(([segments, query]) => `/${segments.join('/')}${query === undefined ? '' : `?${query}`}`),
      fc.string({ unit: 'binary', maxLength: 24 }),
    );
    const host = fc.option(fc.oneof(fc.constantFrom('127.0.0.1:3000', 'herald.example', '[::1]:80', 'bad host', 'a:b:c', ''), fc.string({ maxLength: 8 })), { nil: undefined });
    // One UpgradePath across runs, as on a pod: what it remembers of earlier Hosts must not change an answer.
    const paths = new UpgradePath();
    fc.assert(
      fc.property(url, host, (u, h) => {
        expect(pathOf(paths, u, h)).toEqual(nestPathOf(u, h));
      }),
      fuzzParameters(2000),
    );
  });
});
