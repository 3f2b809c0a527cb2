import type { IncomingHttpHeaders } from 'node:http';
import { HeraldConfig } from '../config/herald.config';
import { CompressionNegotiation } from './compression.negotiation';

const negotiation = (enabled: boolean) => new CompressionNegotiation({ wsCompression: { enabled, minBytes: 1024 } } as unknown as HeraldConfig);

/** What is left of an upgrade's offers once malformed ones are declined (undefined: the header is gone). */
function kept(offered: string, enabled = true): string | undefined {
  const headers: IncomingHttpHeaders = { 'sec-websocket-extensions': offered };
  negotiation(enabled).declineMalformedOffers(headers);
  return headers['sec-websocket-extensions'];
}

describe('CompressionNegotiation.declineMalformedOffers', () => {
  it('keeps what browsers and ws offer', () => {
    expect(kept('permessage-deflate; client_max_window_bits')).toBe('permessage-deflate; client_max_window_bits');
    expect(kept('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=15')).toBe(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=15',
    );
  });

  it('drops malformed offers and other extensions, keeping the well-formed ones in order', () => {
    expect(kept('permessage-deflate; server_max_window_bits=99, permessage-deflate')).toBe('permessage-deflate');
    expect(kept('x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=9')).toBe('permessage-deflate; server_max_window_bits=9');
  });

  it.each([
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; client_max_window_bits=abc',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
    'permessage-deflate; foo=bar',
    'permessage-deflate;',
    ';;;,,,=',
    '',
  ])('removes the header when no offer is well-formed: %p', (offered) => {
    expect(kept(offered)).toBeUndefined();
  });

  it('leaves the header alone when compression is off (ws then ignores it)', () => {
    expect(kept('permessage-deflate; foo=bar', false)).toBe('permessage-deflate; foo=bar');
  });
});
