#!/usr/bin/env node
// A Node.js backend and Herald, with the standard library only (Node 20+): mint a token,
// publish, read presence.
//
//     JWT_SECRET=... HERALD_URL=http://localhost:3000 node herald.mjs [room] [user]
//
// The same mintToken signs your browser users' tokens: serve
// mintToken(secret, { sub: user.id, rooms: ['chat:*'] }, 600) as text from the route your
// pages' getToken fetches (docs/client.md), behind your own login. With the jsonwebtoken
// package, jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: 300 }) does the same.
import { createHmac, randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Publish and presence are on the internal port when Herald has one (INTERNAL_PORT), else on PORT.
const HERALD_URL = process.env.HERALD_URL || `http://localhost:${process.env.INTERNAL_PORT || process.env.PORT || '3000'}`;

const base64url = (data) => Buffer.from(data).toString('base64url');

/** An HS256 JWT as Herald verifies it: the claims given, with iat and exp. */
export function mintToken(secret, claims, ttlS = 300) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify({ ...claims, iat: now, exp: now + ttlS }));
  const signature = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${signature}`;
}

async function call(method, path, token, body) {
  let response;
  try {
    response = await fetch(HERALD_URL + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    // fetch says only "fetch failed": its cause says why (connect ECONNREFUSED 127.0.0.1:3000).
    const why = error.cause?.message || error.cause?.code || error.message;
    throw new Error(`${method} ${HERALD_URL}${path} failed: ${why} (is Herald running there? Set HERALD_URL, or PORT and INTERNAL_PORT as Herald has them)`);
  }
  const text = await response.text();
  // Herald's 4xx bodies name what is wrong: {"statusCode":400,"message":[...]}.
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

async function main() {
  const [room = 'chat:42', user = 'alice'] = process.argv.slice(2);
  if (!process.env.JWT_SECRET) throw new Error('set JWT_SECRET to the HS256 secret Herald verifies with');
  const token = mintToken(process.env.JWT_SECRET, { sub: 'billing', scope: 'notifications:publish presence:read' });
  // The id makes a retry safe: on a 503 or no answer, send the same body with the same id
  // again, and it is delivered once. Keep it with the event it announces (here a random one).
  const published = await call('POST', '/v1/notifications', token, {
    id: `invoice-paid-${randomUUID()}`,
    rooms: [room],
    users: [user],
    type: 'invoice.paid',
    payload: { title: 'Invoice paid', body: 'From Node.js' },
  });
  console.log(JSON.stringify(published));
  console.log(JSON.stringify(await call('GET', `/v1/rooms/${encodeURIComponent(room)}/presence`, token)));
}

// Run as a script, not imported for mintToken: compared as real paths, since a URL escapes
// spaces and a symlinked script's URL names its target.
function isMainModule() {
  try {
    return fileURLToPath(import.meta.url) === realpathSync(process.argv[1]);
  } catch {
    return false; // no script path (node -e, a REPL)
  }
}

if (isMainModule()) {
  main().catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
}
