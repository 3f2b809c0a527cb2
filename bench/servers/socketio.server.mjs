import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { drainSpread, environment, readPublish, reply, verify } from './competitor.shared.mjs';

/**
 * Socket.IO 4 as its docs suggest it: JWT checked in a middleware, one room per user, and with
 * REDIS_URL the official Redis adapter between nodes. Publishes arrive over the same HTTP API.
 */
const env = environment();
const seqByRoom = new Map();
let draining = false;

const http = createServer((request, response) => {
  if (request.method === 'POST' && request.url === '/v1/notifications') return readPublish(request, response, env.secret, publish);
  if (request.url === '/healthz') return reply(response, 200, { ok: true });
  // Socket.IO answers its own path; anything else is not found.
  if (!request.url.startsWith('/socket.io/')) reply(response, 404, { statusCode: 404 });
});
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });

io.use((socket, next) => {
  if (draining) return next(new Error('draining'));
  const claims = verify(socket.handshake.auth?.token, env.secret);
  if (!claims) return next(new Error('unauthorized'));
  socket.data.user = claims.sub;
  next();
});

io.on('connection', (socket) => {
  socket.join(`user:${socket.data.user}`);
  socket.on('join', (request, ack) => {
    if (typeof request?.room !== 'string') return;
    socket.join(request.room);
    if (typeof ack === 'function') ack({ room: request.room, seq: null });
  });
});

function publish(rooms, notification) {
  for (const room of rooms) {
    const seq = (seqByRoom.get(room) ?? 0) + 1;
    seqByRoom.set(room, seq);
    io.to(room).emit('notification', { seq: String(seq), id: notification.id, room, type: notification.type, payload: notification.payload, timestamp: notification.timestamp });
  }
}

if (env.redisUrl) {
  const pub = createClient({ url: env.redisUrl });
  const sub = pub.duplicate();
  pub.on('error', (error) => process.stderr.write(`redis: ${error.message}\n`));
  sub.on('error', (error) => process.stderr.write(`redis: ${error.message}\n`));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

process.once('SIGTERM', () => {
  draining = true;
  drainSpread(io.of('/').sockets.values(), env, (socket) => socket.disconnect(true), () => process.exit(0));
});

http.listen(env.port, env.host, () => process.stdout.write(`listening on ${env.port}\n`));
