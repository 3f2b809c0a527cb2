import { createServer } from 'node:http';
import { createClient } from 'redis';
import { WebSocketServer } from 'ws';
import { drainSpread, environment, readPublish, reply, verify } from './competitor.shared.mjs';

/**
 * The naive ceiling: a Map of rooms, JSON.stringify per publish, ws.send per socket. With
 * REDIS_URL, every publish goes through one Redis pub/sub channel and each node delivers what
 * it receives to its own sockets.
 */
const env = environment();
const CHANNEL = 'bench:raw-ws';
const rooms = new Map();
const seqByRoom = new Map();
let draining = false;

const http = createServer((request, response) => {
  if (request.method === 'POST' && request.url === '/v1/notifications') return readPublish(request, response, env.secret, publish);
  if (request.url === '/healthz') return reply(response, 200, { ok: true });
  reply(response, 404, { statusCode: 404 });
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (protocols) => (protocols.has('herald.v1') ? 'herald.v1' : false) });

http.on('upgrade', (request, socket, head) => {
  const claims = draining ? undefined : verify(tokenOf(request), env.secret);
  if (!claims) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, claims.sub));
});

function onConnection(ws, user) {
  ws.rooms = new Set();
  join(ws, `user:${user}`);
  ws.on('error', () => ws.terminate()); // a client reset; nothing to report in a benchmark target
  ws.on('close', () => {
    for (const room of ws.rooms) rooms.get(room)?.delete(ws);
  });
  ws.on('message', (data) => {
    let frame;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (frame.event === 'join' && typeof frame.data?.room === 'string') {
      join(ws, frame.data.room);
      ws.send(JSON.stringify({ event: 'joined', data: { room: frame.data.room, seq: null }, id: frame.id }));
    }
  });
  ws.send(JSON.stringify({ event: 'welcome', data: { user } }));
}

function join(ws, room) {
  let members = rooms.get(room);
  if (!members) rooms.set(room, (members = new Set()));
  members.add(ws);
  ws.rooms.add(room);
}

function frameFor(room, notification) {
  const seq = (seqByRoom.get(room) ?? 0) + 1;
  seqByRoom.set(room, seq);
  return JSON.stringify({ event: 'notification', data: { seq: String(seq), id: notification.id, room, type: notification.type, payload: notification.payload, timestamp: notification.timestamp } });
}

function deliver(room, frame) {
  const members = rooms.get(room);
  if (members) for (const ws of members) ws.send(frame);
}

let publisher;
async function publish(targets, notification) {
  if (publisher) {
    await Promise.all(targets.map((room) => publisher.publish(CHANNEL, JSON.stringify({ room, frame: frameFor(room, notification) }))));
  } else {
    for (const room of targets) deliver(room, frameFor(room, notification));
  }
}

function tokenOf(request) {
  const offered = request.headers['sec-websocket-protocol'];
  const bearer = offered?.split(',').map((p) => p.trim()).find((p) => p.startsWith('bearer.'));
  if (bearer) return bearer.slice(7);
  return new URL(request.url, 'http://localhost').searchParams.get('token') ?? undefined;
}

if (env.redisUrl) {
  publisher = createClient({ url: env.redisUrl });
  const subscriber = publisher.duplicate();
  publisher.on('error', (error) => process.stderr.write(`redis: ${error.message}\n`));
  subscriber.on('error', (error) => process.stderr.write(`redis: ${error.message}\n`));
  await publisher.connect();
  await subscriber.connect();
  await subscriber.subscribe(CHANNEL, (message) => {
    const { room, frame } = JSON.parse(message);
    deliver(room, frame);
  });
}

process.once('SIGTERM', () => {
  draining = true;
  drainSpread(wss.clients, env, (ws) => ws.close(1012, 'service_restart'), () => process.exit(0));
});

http.listen(env.port, env.host, () => process.stdout.write(`listening on ${env.port}\n`));
