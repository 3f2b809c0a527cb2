import { createSecretKey, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';

/**
 * What the two competitor servers (raw ws, Socket.IO) share with Herald's contract: the same
 * HS256 token check (a KeyObject, as a careful team would write it), the same publish body and
 * the same notification shape. Everything else is deliberately naive.
 */
export function environment() {
  return {
    port: Number(process.env.PORT),
    host: process.env.HOST ?? '127.0.0.1',
    secret: createSecretKey(Buffer.from(process.env.JWT_SECRET, 'utf8')),
    redisUrl: process.env.REDIS_URL || undefined,
    drainSpreadMs: Number(process.env.DRAIN_SPREAD_MS ?? 1000),
    drainDelayMs: Number(process.env.DRAIN_DELAY_MS ?? 0),
  };
}

export function verify(token, secret) {
  if (!token) return undefined;
  try {
    const claims = jwt.verify(token, secret, { algorithms: ['HS256'] });
    return typeof claims.sub === 'string' ? claims : undefined;
  } catch {
    return undefined; // any verification failure is a refusal; the caller answers 401
  }
}

export function hasScope(claims, scope) {
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : (claims.scope ?? []);
  return scopes.includes(scope);
}

/** Reads POST /v1/notifications; answers errors itself and returns undefined then. */
export function readPublish(request, response, secret, onPublish) {
  const authorization = request.headers.authorization ?? '';
  const claims = verify(authorization.startsWith('Bearer ') ? authorization.slice(7) : undefined, secret);
  if (!claims) return reply(response, 401, { statusCode: 401, message: 'Unauthorized' });
  if (!hasScope(claims, 'notifications:publish')) return reply(response, 403, { statusCode: 403, message: 'Forbidden' });
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(response, 400, { statusCode: 400, message: 'Body is not JSON' });
    }
    const rooms = [...new Set([...(body.rooms ?? []), ...(body.users ?? []).map((user) => `user:${user}`)])];
    if (rooms.length === 0 || typeof body.type !== 'string' || typeof body.payload !== 'object') {
      return reply(response, 400, { statusCode: 400, message: 'rooms, type and payload are required' });
    }
    const id = body.id ?? randomUUID();
    const timestamp = new Date().toISOString();
    Promise.resolve(onPublish(rooms, { id, type: body.type, payload: body.payload, timestamp })).then(
      () => reply(response, 202, { id, targets: rooms.length }),
      (error) => reply(response, 503, { statusCode: 503, message: String(error) }),
    );
  });
}

export function reply(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** The same drain shape as Herald's: after a delay, close everyone spread over a window. */
export function drainSpread(clients, { drainDelayMs, drainSpreadMs }, closeOne, done) {
  const all = [...clients];
  const batches = Math.max(1, Math.min(all.length, Math.ceil(drainSpreadMs / 10)));
  const perBatch = Math.ceil(all.length / batches);
  const stepMs = batches > 1 ? drainSpreadMs / (batches - 1) : 0;
  let batch = 0;
  let startedMs = 0;
  // Each batch on its own schedule from the start, as Herald's drain: work does not stretch the spread.
  const next = () => {
    for (const client of all.slice(batch * perBatch, (batch + 1) * perBatch)) closeOne(client);
    batch++;
    if (batch < batches) setTimeout(next, Math.max(0, startedMs + batch * stepMs - performance.now()));
    else setTimeout(done, 200);
  };
  setTimeout(() => {
    startedMs = performance.now();
    next();
  }, drainDelayMs);
}
