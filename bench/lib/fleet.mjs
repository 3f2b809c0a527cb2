import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram } from './histogram.mjs';
import { userToken } from './tokens.mjs';

const BENCH_MARK = Buffer.from('"bench":[');
const SEQ_MARK = Buffer.from('"seq":"');
const HERALD_NOTIFICATION = Buffer.from('{"event":"notification"');
const SOCKETIO_NOTIFICATION = Buffer.from('42["notification"');
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;

/** Loopback source addresses, so tens of thousands of connections do not run out of ports. */
const SOURCE_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);

/**
 * The load generator's clients: the same code for every target. Herald and the raw ws server
 * speak Herald's frames; for Socket.IO the client speaks Engine.IO 4 / Socket.IO 5 frames over
 * the same `ws` client, so no target pays for a heavier client library.
 *
 * Notifications are recognised and their `bench: [n, t]` read straight from the Buffer, so the
 * receiving side stays cheap and equal for every target.
 */
export class Fleet {
  clients = [];
  received = 0;
  outOfOrder = 0;
  connectErrors = 0;
  closedUnexpectedly = 0;
  histogram = new Histogram();
  /** Set to count only notifications sent at or after a publish number. */
  countFrom = 0;
  /**
   * The clock `bench: [n, t]` was stamped with. The publisher's own process by default; a
   * load generator in another process sets one both share (see scale.mjs).
   */
  now = () => performance.now();

  constructor(target, node) {
    this.protocol = target.protocol;
    this.node = node;
  }

  resetStats() {
    this.received = 0;
    this.outOfOrder = 0;
    this.histogram = new Histogram();
  }

  /**
   * Opens `count` clients (users `${prefix}${i}`) that each join `rooms`; at most `concurrency`
   * handshakes at once. With several `nodes` the clients take turns, as behind a load balancer.
   */
  async connect({ count, prefix = 'u', offset = 0, rooms = [], concurrency = 256, node = this.node, nodes = [node] }) {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = offset + next++;
        const client = new BenchClient(this, `${prefix}${index}`, index);
        try {
          await client.open(nodes[index % nodes.length], rooms);
          this.clients.push(client);
        } catch {
          this.connectErrors++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }

  onNotification(client, buffer) {
    const mark = buffer.indexOf(BENCH_MARK);
    if (mark < 0) return;
    const start = mark + BENCH_MARK.length;
    const text = buffer.latin1Slice(start, buffer.indexOf(CLOSE_BRACKET, start));
    const comma = text.indexOf(',');
    const n = +text.slice(0, comma);
    const t = +text.slice(comma + 1);
    const at = buffer.indexOf(SEQ_MARK);
    const seq = at < 0 ? undefined : buffer.latin1Slice(at + SEQ_MARK.length, buffer.indexOf(QUOTE, at + SEQ_MARK.length));
    if (n < this.countFrom) {
      client.lastSeq = seq;
      return;
    }
    // Order is the server's: seq must increase. A repeat or a step back is counted, then
    // dropped, as a client drops duplicates by seq. (`n` is the publisher's count: concurrent
    // HTTP publishes may reach the server in another order, so it is not the order to check.)
    if (seq !== undefined && client.lastSeq !== undefined && !seqAfter(seq, client.lastSeq)) {
      this.outOfOrder++;
      return;
    }
    client.lastSeq = seq;
    this.histogram.record((this.now() - t) * 1000);
    this.received++;
    client.received++;
  }

  closeAll() {
    for (const client of this.clients) client.close();
    this.clients = [];
  }
}

export class BenchClient {
  received = 0;
  lastSeq = undefined;
  /** The `joined` replies of the latest open, by room. */
  joined = new Map();
  ws = undefined;
  closing = false;
  onClose = undefined;

  constructor(fleet, user, index) {
    this.fleet = fleet;
    this.user = user;
    this.index = index;
    this.token = userToken(user);
  }

  /** Connects to `node` ({port}) and joins `rooms` (with `since` when given); resolves when joined. */
  open(node, rooms, since) {
    const socketio = this.fleet.protocol === 'socketio';
    const localAddress = SOURCE_ADDRESSES[this.index % SOURCE_ADDRESSES.length];
    const url = socketio ? `ws://127.0.0.1:${node.port}/socket.io/?EIO=4&transport=websocket` : `ws://127.0.0.1:${node.port}/ws`;
    const protocols = socketio ? [] : ['herald.v1', `bearer.${this.token}`];
    this.closing = false;
    this.joined = new Map();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { localAddress, perMessageDeflate: false, handshakeTimeout: 30_000 });
      this.ws = ws;
      let pending = rooms.length;
      let settled = false;
      const settle = (error) => {
        if (settled) return;
        settled = true;
        error ? reject(error) : resolve(this);
      };
      const sendJoins = () => {
        if (pending === 0) return settle();
        rooms.forEach((room, i) => {
          const data = since === undefined ? { room } : { room, since };
          ws.send(socketio ? `42${i}["join",${JSON.stringify(data)}]` : JSON.stringify({ event: 'join', data, id: i }));
        });
      };
      const onJoined = (i, data) => {
        this.joined.set(rooms[i], data);
        if (--pending === 0) settle();
      };
      ws.on('message', (data) => {
        if (socketio) {
          if (startsWith(data, SOCKETIO_NOTIFICATION)) return this.fleet.onNotification(this, data);
          const text = data.toString();
          if (text === '2') return ws.send('3');
          if (text.startsWith('0')) return ws.send(`40${JSON.stringify({ token: this.token })}`);
          if (text.startsWith('40')) return sendJoins();
          if (text.startsWith('44')) return settle(new Error(text));
          if (text.startsWith('43')) {
            const bracket = text.indexOf('[');
            return onJoined(Number(text.slice(2, bracket)), JSON.parse(text.slice(bracket))[0]);
          }
          return;
        }
        if (startsWith(data, HERALD_NOTIFICATION)) return this.fleet.onNotification(this, data);
        const frame = JSON.parse(data.toString());
        if (frame.event === 'welcome') return sendJoins();
        if (frame.event === 'joined') return onJoined(frame.id, frame.data);
        if (frame.event === 'error') return settle(new Error(`${frame.data?.code}: ${frame.data?.message}`));
      });
      ws.on('error', (error) => settle(error));
      ws.on('close', (code) => {
        settle(new Error(`closed ${code} before joining`));
        if (!this.closing) {
          this.fleet.closedUnexpectedly++;
          this.onClose?.(this, code);
        }
      });
    });
  }

  close() {
    this.closing = true;
    this.ws?.terminate();
  }
}

/** Herald's seqs are fixed-width within an epoch; the competitors' are decimal counters. */
function seqAfter(seq, previous) {
  return seq.length !== previous.length ? seq.length > previous.length : seq > previous;
}

function startsWith(buffer, prefix) {
  return buffer.length >= prefix.length && buffer.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
