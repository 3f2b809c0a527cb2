import type { IncomingMessage } from 'node:http';
import { selectProtocol, tokenOf } from './handshake';

const request = (headers: Record<string, string>, url = '/ws') => ({ headers, url }) as unknown as IncomingMessage;

describe('tokenOf', () => {
  it('reads the bearer subprotocol first, then the Authorization header, then ?token=', () => {
    expect(tokenOf(request({ 'sec-websocket-protocol': 'herald.v1, bearer.aaa', authorization: 'Bearer bbb' }, '/ws?token=ccc'))).toBe('aaa');
    expect(tokenOf(request({ authorization: 'Bearer bbb' }, '/ws?token=ccc'))).toBe('bbb');
    expect(tokenOf(request({}, '/ws?x=1&token=ccc'))).toBe('ccc');
    expect(tokenOf(request({}))).toBeUndefined();
    expect(tokenOf(request({ authorization: 'Basic xyz' }))).toBeUndefined();
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
