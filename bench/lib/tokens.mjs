import { createHmac } from 'node:crypto';

/** One HS256 secret and one way to sign, shared by every target so admission costs compare. */
export const BENCH_JWT_SECRET = 'bench-secret-0123456789abcdef';

export function signToken(claims, secret = BENCH_JWT_SECRET) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify({ iat: now, exp: now + 3600, ...claims }));
  const signature = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${signature}`;
}

export const userToken = (user) => signToken({ sub: user, rooms: ['bench:*'] });
export const publisherToken = () => signToken({ sub: 'publisher', scope: 'notifications:publish' });

function base64url(text) {
  return Buffer.from(text, 'utf8').toString('base64url');
}
