import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { USER_ID_PATTERN } from '@herald/client/protocol';
import { LATEST_EXP_S } from '../../src/auth/token.verifier';
import { fuzzParameters, fuzzTimeoutMs, FUZZ_APP_SETTINGS } from '../support/fuzz';
import { anyJsonValue } from '../support/json-arbitraries';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken, TEST_JWT_SECRET } from '../support/tokens';
import { connectClient, openClient, TestClient } from '../support/ws-client';

const USER = 'jwt-fuzz';
const base64url = (text: string) => Buffer.from(text).toString('base64url');

interface TokenSpec {
  alg: unknown;
  claims: Record<string, unknown>;
  signing: 'right-secret' | 'wrong-secret' | 'empty' | 'garbage';
  tamper: 'none' | 'payload' | 'signature' | 'truncate';
}

const nowS = () => Math.floor(Date.now() / 1000);
const absent = fc.constant(undefined);
const claim = <T>(valid: fc.Arbitrary<T>, wrong: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: wrong, weight: 1 }, absent);

const tokenSpec: fc.Arbitrary<TokenSpec> = fc.record({
  alg: fc.oneof({ arbitrary: fc.constant('HS256'), weight: 6 }, fc.constantFrom('none', 'None', 'HS512', 'RS256', 'ES256', 'hs256', ''), anyJsonValue),
  claims: fc.record({
    sub: claim(fc.constantFrom(USER, 'other-user', 'a'.repeat(123)), fc.oneof(fc.constantFrom('', 'a'.repeat(124), 'has space', 'a@b', 'ü'), anyJsonValue)),
    // exp offsets keep a valid token valid for the whole run: a refreshed one must not expire mid-test.
    exp: claim(
      fc.oneof(fc.integer({ min: 3600, max: 10 ** 9 }).map((ttl) => nowS() + ttl), fc.integer({ min: 1, max: 10 ** 9 }).map((ago) => nowS() - ago)),
      fc.oneof(fc.constantFrom(1e300, -1e300, 1e13, 253_402_300_799, 253_402_300_800, Number.MAX_SAFE_INTEGER, 0, -0.5), fc.double({ noNaN: true, noDefaultInfinity: true }), anyJsonValue),
    ),
    rooms: claim(fc.array(fc.constantFrom('chat:*', '*', 'team:42', ''), { maxLength: 3 }), anyJsonValue),
    scope: claim(fc.constantFrom('notifications:publish', ['presence:read']), anyJsonValue),
    name: claim(fc.string(), anyJsonValue),
    /** Makes the token several KB long (the claim holds this many characters). */
    padding: fc.oneof(absent, fc.integer({ min: 1000, max: 6000 })),
  }),
  signing: fc.oneof({ arbitrary: fc.constant('right-secret' as const), weight: 6 }, fc.constantFrom('wrong-secret' as const, 'empty' as const, 'garbage' as const)),
  tamper: fc.oneof({ arbitrary: fc.constant('none' as const), weight: 6 }, fc.constantFrom('payload' as const, 'signature' as const, 'truncate' as const)),
});

function tokenOf(spec: TokenSpec): string {
  const { padding, ...rest } = spec.claims;
  const claims = Object.fromEntries(Object.entries({ ...rest, iat: nowS(), padding: typeof padding === 'number' ? 'p'.repeat(padding) : undefined }).filter(([, value]) => value !== undefined));
  const unsigned = `${base64url(JSON.stringify({ alg: spec.alg, typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
  const hmac = (secret: string) => createHmac('sha256', secret).update(unsigned).digest('base64url');
  const signature = { 'right-secret': hmac(TEST_JWT_SECRET), 'wrong-secret': hmac('another-secret-0123456789abcdef'), empty: '', garbage: 'bm90LWEtc2lnbmF0dXJl' }[spec.signing];
  const token = `${unsigned}.${signature}`;
  switch (spec.tamper) {
    case 'payload':
      return `${unsigned.split('.')[0]}.${base64url(JSON.stringify({ ...claims, sub: 'mallory' }))}.${signature}`;
    case 'signature':
      return `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    case 'truncate':
      return token.slice(0, unsigned.length);
    default:
      return token;
  }
}

/** Section 1 as the oracle: admitted, expired, or unauthorized. */
function expectedAdmission(spec: TokenSpec): 'welcome' | 'token_expired' | 'unauthorized' {
  const signed = spec.alg === 'HS256' && spec.signing === 'right-secret' && spec.tamper === 'none';
  if (!signed) return 'unauthorized';
  const { sub, exp, rooms } = spec.claims;
  if (exp !== undefined && typeof exp !== 'number') return 'unauthorized';
  if (typeof exp === 'number' && exp > LATEST_EXP_S) return 'unauthorized';
  if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) return 'unauthorized';
  if (rooms !== undefined && !(Array.isArray(rooms) && rooms.every((room) => typeof room === 'string'))) return 'unauthorized';
  // Only a token that would be accepted but for its exp is one to refresh.
  if (typeof exp === 'number' && exp <= nowS()) return 'token_expired';
  return 'welcome';
}

describe('fuzzed JWT admission', () => {
  let app: TestApp;
  /** A connection of USER that tries every token as an in-band refresh. */
  let refresher: TestClient;

  beforeAll(async () => {
    app = await createTestApp({ ...FUZZ_APP_SETTINGS, RATE_LIMIT_PER_S: '100000' });
    refresher = await connectClient(app.wsUrl, signToken({ sub: USER }));
  });
  afterAll(async () => {
    await refresher?.close();
    await app?.close();
  });

  it(
    'admits only valid tokens, by subprotocol, query or header, closes the rest with 1008 or 4001, and refreshes only with a valid token of the same user',
    async () => {
      await fc.assert(
        fc.asyncProperty(tokenSpec, fc.constantFrom('subprotocol' as const, 'query' as const, 'header' as const), async (spec, via) => {
          const token = tokenOf(spec);
          const expected = expectedAdmission(spec);
          const context = `${via} ${JSON.stringify(spec).slice(0, 400)}`;
          const client = await openClient(app.wsUrl, token, { via });
          const first = await Promise.race([client.next(undefined, 2000).then((frame) => frame.event), client.closed.then(({ code, reason }) => `${code} ${reason}`)]);
          const outcome = { welcome: 'welcome', token_expired: '4001 token_expired', unauthorized: '1008 unauthorized' }[expected];
          expect({ context, first }).toEqual({ context, first: outcome });
          if (first === 'welcome') await client.close();
          else expect(client.frames).toEqual([]); // nothing is sent to a refused connection

          const reply = await refresher.request('refresh', { token }, 2000);
          const refreshed = expected === 'welcome' && spec.claims.sub === USER ? 'refreshed' : 'unauthorized';
          expect({ context, reply: reply.event === 'error' ? reply.data.code : reply.event }).toEqual({ context, reply: refreshed });
        }),
        fuzzParameters(120, { stateful: true }),
      );
      // Still healthy: the refreshing connection is open and a valid client connects.
      expect(refresher.closeInfo).toBeUndefined();
      const fresh = await connectClient(app.wsUrl, signToken({ sub: 'after-fuzz' }));
      expect((await fresh.request('ping')).event).toBe('pong');
      await fresh.close();
    },
    fuzzTimeoutMs(120, 4000),
  );
});
