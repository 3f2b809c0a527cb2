import { createHmac } from 'node:crypto';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';

export interface TestClaims {
  sub?: string;
  rooms?: string[];
  scope?: string | string[];
  name?: string;
  /** Seconds from now; negative for an already expired token; null for no exp claim. */
  ttlS?: number | null;
  iss?: string;
  aud?: string;
  [claim: string]: unknown;
}

/** Signs an HS256 JWT by hand, so tests do not depend on the server's own signing code. */
export function signToken(claims: TestClaims = {}, secret = TEST_JWT_SECRET): string {
  const { ttlS = 3600, ...rest } = claims;
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { sub: 'alice', iat: now, ...rest };
  if (ttlS !== null) payload.exp = now + ttlS;
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

export const publisherToken = (extra: TestClaims = {}) => signToken({ sub: 'publisher', scope: 'notifications:publish presence:read', ...extra });
