import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { selectProtocol, tidyOfferedProtocols, tokenOf } from './handshake';

const request = (headers: Record<string, string>, url = '/ws', rawHeaders = Object.entries(headers).flat()) => ({ headers, url, rawHeaders }) as unknown as IncomingMessage;

describe('tokenOf', () => {
  it('reads the bearer subprotocol first, then the Authorization header, then ?token=', () => {
    expect(tokenOf(request({ 'sec-websocket-protocol': 'herald.v1, bearer.aaa', authorization: 'Bearer bbb' }, '/ws?token=ccc'))).toBe('aaa');
    expect(tokenOf(request({ authorization: 'Bearer bbb' }, '/ws?token=ccc'))).toBe('bbb');
    expect(tokenOf(request({}, '/ws?x=1&token=ccc'))).toBe('ccc');
    expect(tokenOf(request({}))).toBeUndefined();
    expect(tokenOf(request({ authorization: 'Basic xyz' }))).toBeUndefined();
  });

  it('takes no token from an Authorization header sent twice, whichever comes first (Node keeps the first, a proxy may have read the last)', () => {
    const twice = ['Authorization', 'Bearer bbb', 'Host', 'h', 'AUTHORIZATION', 'Bearer evil'];
    expect(tokenOf(request({ authorization: 'Bearer bbb' }, '/ws', twice))).toBeNull();
    expect(tokenOf(request({ authorization: 'Bearer bbb' }, '/ws?token=ccc', twice))).toBeNull();
    // Even where an earlier source carries one: a proxy may have checked the header's other token.
    expect(tokenOf(request({ authorization: 'Bearer bbb', 'sec-websocket-protocol': 'herald.v1, bearer.aaa' }, '/ws', twice))).toBeNull();
    expect(tokenOf(request({ authorization: 'Bearer bbb' }, '/ws', ['Authorization', 'Bearer bbb', 'X-Authorization', 'x']))).toBe('bbb');
  });
});

describe('tokenOf with two tokens in one source', () => {
  it('gives null (refused) for two different bearer subprotocols, whichever comes first, and for `token` twice in the query', () => {
    expect(tokenOf(request({ 'sec-websocket-protocol': 'herald.v1, bearer.aaa, bearer.bbb' }))).toBeNull();
    expect(tokenOf(request({ 'sec-websocket-protocol': 'bearer.bbb, bearer.aaa' }, '/ws?token=ccc'))).toBeNull();
    expect(tokenOf(request({}, '/ws?token=aaa&token=bbb'))).toBeNull();
    expect(tokenOf(request({}, '/ws?token=aaa&token='))).toBeNull();
  });

  it('gives null for a query with `token` twice whatever an earlier source carries', () => {
    expect(tokenOf(request({ 'sec-websocket-protocol': 'herald.v1, bearer.aaa' }, '/ws?token=aaa&token=bbb'))).toBeNull();
    expect(tokenOf(request({ authorization: 'Bearer aaa' }, '/ws?token=aaa&token=bbb'))).toBeNull();
    // A query without `token` twice, or with other parameters only, changes nothing.
    expect(tokenOf(request({ 'sec-websocket-protocol': 'herald.v1, bearer.aaa' }, '/ws?tokens=1&x=token'))).toBe('aaa');
    expect(tokenOf(request({ authorization: 'Bearer aaa' }, '/ws?token=ccc'))).toBe('aaa');
  });

  it('reads one token offered twice as one', () => {
    expect(tokenOf(request({ 'sec-websocket-protocol': 'bearer.aaa, herald.v1, bearer.aaa' }))).toBe('aaa');
  });
});

describe('tidyOfferedProtocols', () => {
  const tidied = (offered: string | undefined) => {
    const headers: IncomingMessage['headers'] = offered === undefined ? {} : { 'sec-websocket-protocol': offered };
    tidyOfferedProtocols(headers);
    return headers['sec-websocket-protocol'];
  };

  it('leaves an offer written as clients write a list as it is, and writes any other that way', () => {
    expect(tidied('herald.v1, bearer.aaa')).toBe('herald.v1, bearer.aaa');
    expect(tidied('herald.v1,bearer.aaa')).toBe('herald.v1,bearer.aaa');
    expect(tidied('bearer.aaa')).toBe('bearer.aaa');
    expect(tidied(undefined)).toBeUndefined();
    expect(tidied('herald.v1 ,\tbearer.aaa')).toBe('herald.v1, bearer.aaa');
    expect(tidied('herald.v1,\u00a0bearer.aaa')).toBe('herald.v1, bearer.aaa');
  });

  it('drops empty elements and repeats, and the header when nothing is left', () => {
    expect(tidied('herald.v1,,bearer.aaa')).toBe('herald.v1, bearer.aaa');
    expect(tidied(' , herald.v1 , herald.v1,')).toBe('herald.v1');
    expect(tidied('bearer.aaa, herald.v1, bearer.aaa')).toBe('bearer.aaa, herald.v1');
    expect(tidied(', ,')).toBeUndefined();
  });

  it('keeps the first of each name in order, for short and very long offers alike', () => {
    const reference = (offered: string) => [...new Set(offered.split(',').map((name) => name.trim()))].filter((name) => name !== '');
    const names = fc.array(fc.constantFrom('herald.v1', 'bearer.a', 'bearer.b', 'x', '', ' y ', 'z\t'), { maxLength: 40 });
    fc.assert(
      fc.property(names, (list) => {
        const offered = list.join(',');
        const expected = reference(offered);
        const result = tidied(offered);
        if (expected.length === 0) expect(result).toBeUndefined();
        else expect(result?.split(',').map((name) => name.trim())).toEqual(expected);
      }),
      fuzzParameters(1000),
    );
    const many = Array.from({ length: 3000 }, (_, i) => `p${i % 1000}`).join(',');
    expect(tidied(many)?.split(', ')).toEqual(Array.from({ length: 1000 }, (_, i) => `p${i}`));
  });
});

describe('selectProtocol', () => {
  it('selects herald.v1 when offered, and the bearer protocol only when it is all that is offered', () => {
    expect(selectProtocol(new Set(['bearer.t', 'herald.v1']))).toBe('herald.v1');
    expect(selectProtocol(new Set(['x', 'herald.v1']))).toBe('herald.v1');
    expect(selectProtocol(new Set(['bearer.t']))).toBe('bearer.t');
    expect(selectProtocol(new Set())).toBe(false);
  });

  it('never selects a protocol it does not speak', () => {
    expect(selectProtocol(new Set(['x', 'bearer.t']))).toBe(false);
    expect(selectProtocol(new Set(['bearer.t', 'other']))).toBe(false);
    expect(selectProtocol(new Set(Array.from({ length: 1000 }, (_, i) => `p${i}`)))).toBe(false);
    expect(selectProtocol(new Set(['bearer.a', 'bearer.b']))).toBe(false);
  });
});

describe('selectProtocol (properties)', () => {
  const offered = fc.uniqueArray(
    fc.oneof(fc.constant('herald.v1'), fc.string().map((token) => `bearer.${token}`), fc.string(), fc.constantFrom('herald.v2', 'HERALD.V1', 'bearer', 'bearer.', ' herald.v1')),
    { maxLength: 8 },
  );

  it('selects herald.v1 when offered, else only a bearer.* offered alone, else nothing', () => {
    fc.assert(
      fc.property(offered, (protocols) => {
        const selected = selectProtocol(new Set(protocols));
        if (protocols.includes('herald.v1')) expect(selected).toBe('herald.v1');
        else if (protocols.length === 1 && protocols[0].startsWith('bearer.')) expect(selected).toBe(protocols[0]);
        else expect(selected).toBe(false);
      }),
      fuzzParameters(1000),
    );
  });
});

describe('tokenOf (properties)', () => {
  it('never throws on any headers and URL, and returns a string or nothing', () => {
    const headerValue = fc.oneof(fc.string({ unit: 'binary' }), fc.string().map((token) => `Bearer ${token}`), fc.string().map((token) => `herald.v1, bearer.${token}`));
    fc.assert(
      fc.property(fc.option(headerValue, { nil: undefined }), fc.option(headerValue, { nil: undefined }), fc.string({ unit: 'binary' }), (protocol, authorization, url) => {
        const headers: Record<string, string> = {};
        if (protocol !== undefined) headers['sec-websocket-protocol'] = protocol;
        if (authorization !== undefined) headers.authorization = authorization;
        const token = tokenOf(request(headers, url));
        if (token !== undefined) expect(typeof token).toBe('string');
      }),
      fuzzParameters(1000),
    );
  });
});

describe('tokenOf after tidyOfferedProtocols (the handshake parses an offer once)', () => {
  /** What tokenOf reads from an offer on its own, parsed afresh: the reference. */
  const reference = (offered: string) => {
    const bearers = [...new Set(offered.split(',').map((name) => name.trim()))].filter((name) => name.startsWith('bearer.'));
    return bearers.length > 1 ? null : bearers[0]?.slice('bearer.'.length);
  };

  it('reads the token of the offer it was given, whether the handshake kept or rewrote it', () => {
    for (const offered of ['herald.v1, bearer.aaa', 'herald.v1,,bearer.bbb', 'bearer.ccc , herald.v1', 'bearer.ddd, bearer.ddd']) {
      const headers: IncomingMessage['headers'] = { 'sec-websocket-protocol': offered };
      tidyOfferedProtocols(headers);
      expect(tokenOf(request(headers as Record<string, string>))).toBe(reference(offered));
    }
  });

  it('never reads an earlier offer: any sequence of tidied and untidied offers gives each its own token', () => {
    const name = fc.constantFrom('herald.v1', 'bearer.a', 'bearer.b', 'bearer.a ', '', ' x');
    const offer = fc.array(name, { maxLength: 5 }).map((names) => names.join(','));
    fc.assert(
      fc.property(fc.array(fc.tuple(offer, fc.boolean()), { minLength: 1, maxLength: 6 }), (offers) => {
        for (const [offered, tidied] of offers) {
          const headers: IncomingMessage['headers'] = { 'sec-websocket-protocol': offered };
          if (tidied) tidyOfferedProtocols(headers);
          expect(tokenOf(request(headers as Record<string, string>))).toBe(reference(offered));
        }
      }),
      fuzzParameters(1000),
    );
  });
});
