import { Logger } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import fc from 'fast-check';
import { HeraldConfig } from '../config/herald.config';
import { fuzzParameters } from '../../test/support/fuzz';
import { signToken } from '../../test/support/tokens';
import { INTERNED_LIST_MAX_CHARS, TOKEN_MAX_CHARS, TokenVerifier } from './token.verifier';

const SECRET = 'a-secret-long-enough-for-hs256-tests';
const jwt = new JwtService({ secret: SECRET, verifyOptions: { algorithms: ['HS256'] } });
const config = { isProduction: false, joinProxy: undefined } as unknown as HeraldConfig;
const NOW_MS = Date.UTC(2030, 0, 1);

describe('TokenVerifier.verify', () => {
  it('takes an exp up to the last second of year 9999, which expiresAt writes with four digits, and refuses a later one', () => {
    const verifier = new TokenVerifier(jwt, config);
    const last = verifier.verify(jwt.sign({ sub: 'far', exp: 253_402_300_799 }));
    expect(last).toMatchObject({ ok: true, principal: { expiresAtMs: 253_402_300_799_000 } });
    expect(new Date(253_402_300_799_000).toISOString()).toBe('9999-12-31T23:59:59.000Z');
    expect(verifier.verify(jwt.sign({ sub: 'far', exp: 253_402_300_800 }))).toEqual({ ok: false, reason: 'unauthorized' });
  });

  it('logs why it refused a token at debug level, naming neither the token nor the secret', () => {
    const debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    try {
      const verifier = new TokenVerifier(jwt, config);
      const forged = new JwtService({ secret: 'another-secret-long-enough-for-hs256' }).sign({ sub: 'mallory' });
      expect(verifier.verify(forged)).toEqual({ ok: false, reason: 'unauthorized' });
      expect(verifier.verify(jwt.sign({ sub: 'late', exp: Math.floor(Date.now() / 1000) - 60 }))).toEqual({ ok: false, reason: 'token_expired' });
      expect(verifier.verify(undefined)).toEqual({ ok: false, reason: 'unauthorized' });
      expect(debug.mock.calls.map(([entry]) => entry)).toEqual([
        { message: 'Token refused', reason: 'unauthorized', why: 'invalid signature' },
        { message: 'Token refused', reason: 'token_expired', why: 'expired' },
        { message: 'Token refused', reason: 'unauthorized', why: 'no token' },
      ]);
      expect(JSON.stringify(debug.mock.calls)).not.toContain(forged.split('.')[2]);
    } finally {
      debug.mockRestore();
    }
  });

  it('grants the scopes of scope and scp together, an empty one hiding none of the other', () => {
    const verifier = new TokenVerifier(jwt, config);
    const scopes = (claims: object) => {
      const verified = verifier.verify(jwt.sign({ sub: 'svc', ...claims }));
      return verified.ok ? verified.principal.scopes : verified.reason;
    };
    expect(scopes({ scope: '', scp: ['notifications:publish'] })).toEqual(['notifications:publish']);
    expect(scopes({ scope: [], scp: 'presence:read' })).toEqual(['presence:read']);
    expect(scopes({ scope: 'presence:read notifications:publish', scp: ['presence:read', 'inbox:read'] })).toEqual(['presence:read', 'notifications:publish', 'inbox:read']);
    expect(scopes({ scope: 'presence:read' })).toEqual(['presence:read']);
    expect(scopes({})).toEqual([]);
  });
  it('says token_expired only of a token that would be accepted but for its exp: one from another issuer or audience, or with a sub Herald refuses, is unauthorized', () => {
    const checked = new JwtService({ secret: SECRET, verifyOptions: { algorithms: ['HS256'], issuer: 'https://id.example', audience: 'herald' } });
    const verifier = new TokenVerifier(checked, config);
    const expired = Math.floor(Date.now() / 1000) - 60;
    const verdict = (claims: object) => {
      const verified = verifier.verify(jwt.sign({ exp: expired, iss: 'https://id.example', aud: 'herald', sub: 'alice', ...claims }));
      return verified.ok ? 'ok' : verified.reason;
    };
    expect(verdict({})).toBe('token_expired');
    expect(verdict({ iss: 'https://elsewhere.example' })).toBe('unauthorized');
    expect(verdict({ iss: undefined })).toBe('unauthorized');
    expect(verdict({ aud: 'another-service' })).toBe('unauthorized');
    expect(verdict({ sub: 'auth0|5f1c2d' })).toBe('unauthorized');
    expect(verdict({ rooms: 'chat:*' })).toBe('unauthorized');
    // Signed with another key: refused before its exp is looked at.
    expect(verifier.verify(new JwtService({ secret: `${SECRET}-other` }).sign({ exp: expired, iss: 'https://id.example', aud: 'herald', sub: 'alice' }))).toEqual({ ok: false, reason: 'unauthorized' });
  });
});

describe('a token longer than any request head can carry', () => {
  it('is refused unauthorized before it is decoded, as one a handshake could never bring', () => {
    const verifier = new TokenVerifier(jwt, config);
    const rooms = (chars: number) => ['x'.repeat(chars)];
    // Signed and valid: only its length tells.
    const longest = jwt.sign({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 60, rooms: rooms(12_000) });
    expect(longest.length).toBeLessThanOrEqual(TOKEN_MAX_CHARS);
    expect(verifier.verify(longest)).toMatchObject({ ok: true });
    const tooLong = jwt.sign({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 60, rooms: rooms(13_000) });
    expect(tooLong.length).toBeGreaterThan(TOKEN_MAX_CHARS);
    expect(verifier.verify(tooLong)).toEqual({ ok: false, reason: 'unauthorized' });
  });
});

describe('a token\'s name', () => {
  it('is kept up to 100 characters and cut there, never between the halves of a surrogate pair', () => {
    const verifier = new TokenVerifier(jwt, config);
    const nameOf = (name: unknown) => {
      const verified = verifier.verify(jwt.sign({ sub: 'u', name }));
      return verified.ok ? verified.principal.name : verified.reason;
    };
    expect(nameOf('Ann Example')).toBe('Ann Example');
    expect(nameOf('x'.repeat(100))).toBe('x'.repeat(100));
    expect(nameOf('x'.repeat(10_000))).toBe('x'.repeat(100));
    expect(nameOf('😀'.repeat(150))).toBe('😀'.repeat(100));
    expect(nameOf('a' + '😀'.repeat(150))).toBe('a' + '😀'.repeat(99));
    expect(nameOf(42)).toBeUndefined();
  });

  it('has a lone surrogate made U+FFFD, as every member would otherwise decode it (or refuse it)', () => {
    const verifier = new TokenVerifier(jwt, config);
    const verified = verifier.verify(jwt.sign({ sub: 'u', name: 'Ann\ud800 E\udfffx' }));
    expect(verified.ok && verified.principal.name).toBe('Ann\ufffd E\ufffdx');
    const cut = verifier.verify(jwt.sign({ sub: 'u', name: '\udc00'.repeat(150) }));
    expect(cut.ok && cut.principal.name).toBe('\ufffd'.repeat(100));
  });
});

describe('TokenVerifier.verifyRepeated', () => {
  let verifier: TokenVerifier;
  beforeEach(() => {
    jest.useFakeTimers({ now: NOW_MS, doNotFake: ['nextTick', 'setImmediate'] });
    verifier = new TokenVerifier(jwt, config);
  });
  afterEach(() => jest.useRealTimers());

  it('answers as verify does, at every moment around a remembered token\'s expiry', () => {
    const expS = NOW_MS / 1000 + 10;
    const token = jwt.sign({ sub: 'svc', scope: 'notifications:publish', exp: expS });
    for (const offsetMs of [0, 5000, 9999, 10_000, 10_001, 20_000]) {
      jest.setSystemTime(NOW_MS + offsetMs);
      expect(verifier.verifyRepeated(token)).toEqual(verifier.verify(token));
    }
    expect(verifier.verifyRepeated(token)).toEqual({ ok: false, reason: 'token_expired' });
  });

  it('refuses a token whose fractional exp has passed, as a connection would be closed for it, remembered or not', () => {
    const expS = NOW_MS / 1000 + 10.5;
    const token = jwt.sign({ sub: 'svc', scope: 'notifications:publish', exp: expS });
    jest.setSystemTime(NOW_MS + 10_000);
    expect(verifier.verifyRepeated(token)).toMatchObject({ ok: true });
    // Between T.5 and T+1: jsonwebtoken, counting whole seconds, still accepts it.
    jest.setSystemTime(NOW_MS + 10_700);
    expect(verifier.verify(token)).toEqual({ ok: false, reason: 'token_expired' });
    expect(verifier.verifyRepeated(token)).toEqual({ ok: false, reason: 'token_expired' });
  });

  it('remembers only accepted tokens: a bad signature is refused every time', () => {
    const token = jwt.sign({ sub: 'svc' });
    const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
    expect(verifier.verifyRepeated(forged)).toEqual({ ok: false, reason: 'unauthorized' });
    expect(verifier.verifyRepeated(forged)).toEqual({ ok: false, reason: 'unauthorized' });
    expect(verifier.verifyRepeated(undefined)).toEqual({ ok: false, reason: 'unauthorized' });
    expect(verifier.verifyRepeated(token)).toMatchObject({ ok: true, principal: { user: 'svc' } });
  });

  it('keeps answering for many distinct tokens (the oldest are forgotten, not refused)', () => {
    const tokens = Array.from({ length: 600 }, (_, i) => jwt.sign({ sub: `svc${i}` }));
    for (const token of [...tokens, ...tokens]) expect(verifier.verifyRepeated(token)).toEqual(verifier.verify(token));
  });
});

describe('TokenVerifier room patterns and scopes', () => {
  const verifier = new TokenVerifier(jwt, config);
  const principalOf = (claims: Record<string, unknown>) => {
    const verification = verifier.verify(jwt.sign(claims));
    if (!verification.ok) throw new Error(`refused: ${verification.reason}`);
    return verification.principal;
  };

  it('are the claims as sent, one shared copy for equal lists', () => {
    const first = principalOf({ sub: 'u1', rooms: ['orders:*', 'team:7'], scope: 'presence:read notifications:publish' });
    const second = principalOf({ sub: 'u2', rooms: ['orders:*', 'team:7'], scp: ['presence:read', 'notifications:publish'] });
    expect(first.roomPatterns).toEqual(['orders:*', 'team:7']);
    expect(second.roomPatterns).toBe(first.roomPatterns);
    expect(second.scopes).toBe(first.scopes);
    expect(first.scopes).toEqual(['presence:read', 'notifications:publish']);
  });

  it('keep no list longer than INTERNED_LIST_MAX_CHARS for sharing: it goes with the connections that hold it', () => {
    const long = Array.from({ length: 200 }, (_, i) => `team:${String(i).padStart(5, '0')}`);
    expect(JSON.stringify(long).length).toBeGreaterThan(INTERNED_LIST_MAX_CHARS);
    const first = principalOf({ sub: 'u1', rooms: long });
    // Another list in between, so the second is not the last one handed out (compared in place).
    principalOf({ sub: 'u2', rooms: ['other'] });
    const second = principalOf({ sub: 'u3', rooms: long });
    expect(second.roomPatterns).toEqual(long);
    expect(second.roomPatterns).not.toBe(first.roomPatterns);
    // A list within the bound is shared so.
    const short = long.slice(0, 10);
    const shared = principalOf({ sub: 'u4', rooms: short });
    principalOf({ sub: 'u5', rooms: ['other'] });
    expect(principalOf({ sub: 'u6', rooms: short }).roomPatterns).toBe(shared.roomPatterns);
  });

  it('never share between lists that differ, however their items are split', () => {
    expect(principalOf({ sub: 'u1', rooms: ['a\nb'] }).roomPatterns).toEqual(['a\nb']);
    expect(principalOf({ sub: 'u2', rooms: ['a', 'b'] }).roomPatterns).toEqual(['a', 'b']);
    expect(principalOf({ sub: 'u3', rooms: ['a,b'] }).roomPatterns).toEqual(['a,b']);
    expect(principalOf({ sub: 'u4' }).roomPatterns).toEqual([]);
  });

  it("hold each token's own list in any order of tokens, one copy per distinct list (the last one is compared in place)", () => {
    const list = fc.array(fc.constantFrom('a', 'b', 'a,b', 'orders:*', ''), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(list, { minLength: 1, maxLength: 8 }), (lists) => {
        const seen = new Map<string, readonly string[]>();
        lists.forEach((rooms, index) => {
          const held = principalOf({ sub: `u${index}`, rooms }).roomPatterns;
          expect(held).toEqual(rooms);
          const earlier = seen.get(JSON.stringify(rooms));
          if (earlier) expect(held).toBe(earlier);
          seen.set(JSON.stringify(rooms), held);
        });
      }),
      fuzzParameters(200),
    );
  });
});

describe('TokenVerifier header', () => {
  const verifier = new TokenVerifier(jwt, config);

  it('refuses a token whose crit names extensions, which Herald understands none of (RFC 7515 4.1.11)', () => {
    const critical = jwt.sign({ sub: 'u1' }, { header: { alg: 'HS256', crit: ['b64'], b64: false } as never });
    expect(verifier.verify(critical)).toEqual({ ok: false, reason: 'unauthorized' });
    expect(verifier.verifyRepeated(critical)).toEqual({ ok: false, reason: 'unauthorized' });
    expect(verifier.verify(jwt.sign({ sub: 'u1' }, { header: { alg: 'HS256', typ: 'JWT', kid: 'k1' } as never }))).toMatchObject({ ok: true, principal: { user: 'u1' } });
  });
});

describe('TokenVerifier claims', () => {
  const verifier = new TokenVerifier(jwt, config);

  it('refuses an iat that is not a NumericDate, as it refuses such an exp', () => {
    // Signed by hand: jsonwebtoken will not sign such a claim.
    for (const iat of ['x', '1700000000', null, [1], {}]) expect(verifier.verify(signToken({ sub: 'u1', iat }, SECRET))).toEqual({ ok: false, reason: 'unauthorized' });
    expect(verifier.verify(signToken({ sub: 'u1', iat: 1_700_000_000.5 }, SECRET))).toMatchObject({ ok: true });
    expect(verifier.verify(signToken({ sub: 'u1', iat: undefined }, SECRET))).toMatchObject({ ok: true });
  });
});
