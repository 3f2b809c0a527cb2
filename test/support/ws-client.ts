import WebSocket from 'ws';
import { BEARER_PROTOCOL_PREFIX, Frame, PROTOCOL_VERSION } from '@herald/client/protocol';

/** Any server frame, its data loosely typed for assertions. */
export type ServerFrame = Frame<string, any>;

export interface Closed {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  /** How to pass the token; default the `bearer.<JWT>` subprotocol as browsers and the SDK do. */
  via?: 'subprotocol' | 'query' | 'header' | 'none';
  headers?: Record<string, string>;
  /** Answer protocol pings automatically (ws does by default); false simulates a dead peer. */
  autoPong?: boolean;
  /** Offer permessage-deflate (the ws client does by default, as browsers do), or offer these parameters. */
  perMessageDeflate?: boolean | WebSocket.PerMessageDeflateOptions;
}

/**
 * A real `ws` client that records every frame, for e2e tests: `next()` waits for the next frame
 * (optionally of one event) not yet consumed, `request()` sends with an id and waits for the
 * frame that echoes it.
 */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<Closed>;
  private cursor = 0;
  private waiters: (() => void)[] = [];
  private nextId = 1;
  closeInfo: Closed | undefined;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      this.frames.push(JSON.parse(raw.toString()) as ServerFrame);
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeInfo);
      }),
    );
    socket.on('error', () => undefined); // surfaced through `closed`
  }

  /** The next unconsumed frame (of `event`, skipping others only when `skipOthers`). */
  async next(event?: string, timeoutMs = 5000): Promise<ServerFrame> {
    return this.waitFor((frame) => event === undefined || frame.event === event, timeoutMs, `next ${event ?? 'frame'}`);
  }

  /** Waits for a frame matching `predicate` anywhere after the cursor and consumes up to it. */
  async waitFor(predicate: (frame: ServerFrame) => boolean, timeoutMs = 5000, what = 'frame'): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let index = this.cursor; index < this.frames.length; index++) {
        if (predicate(this.frames[index])) {
          this.cursor = index + 1;
          return this.frames[index];
        }
      }
      if (this.closeInfo) throw new Error(`Closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`Timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(this.cursor))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** All frames of an event received so far (consumed or not). */
  all(event: string): ServerFrame[] {
    return this.frames.filter((frame) => frame.event === event);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends `{event, data, id}` and resolves with the reply or error that echoes the id. */
  async request(event: string, data?: unknown, timeoutMs = 5000): Promise<ServerFrame> {
    const id = `r${this.nextId++}`;
    this.send(data === undefined ? { event, id } : { event, data, id });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.frames.find((frame) => frame.id === id);
      if (reply) return reply;
      if (this.closeInfo) throw new Error(`Closed (${this.closeInfo.code} ${this.closeInfo.reason}) before reply to ${event}`);
      if (Date.now() > deadline) throw new Error(`No reply to ${event} ${id}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async join(room: string, since?: string): Promise<ServerFrame> {
    const reply = await this.request('join', since === undefined ? { room } : { room, since });
    if (reply.event !== 'joined') throw new Error(`join ${room} failed: ${JSON.stringify(reply.data)}`);
    return reply;
  }

  close(code = 1000): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(code);
    return this.closed;
  }

  terminate(): void {
    this.socket.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Opens a socket and resolves once it is open (not yet welcomed: `await client.next('welcome')`). */
export function openClient(wsUrl: string, token: string | undefined, options: ConnectOptions = {}): Promise<TestClient> {
  const via = token === undefined ? 'none' : (options.via ?? 'subprotocol');
  const url = via === 'query' ? `${wsUrl}?token=${encodeURIComponent(token!)}` : wsUrl;
  const protocols = via === 'subprotocol' ? [PROTOCOL_VERSION, BEARER_PROTOCOL_PREFIX + token] : undefined;
  const headers = { ...(options.headers ?? {}), ...(via === 'header' ? { authorization: `Bearer ${token}` } : {}) };
  const socket = new WebSocket(url, protocols, { headers, autoPong: options.autoPong ?? true, perMessageDeflate: options.perMessageDeflate ?? true });
  const client = new TestClient(socket);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.once('error', reject);
  });
}

/** Opens a socket and waits for `welcome`. */
export async function connectClient(wsUrl: string, token: string, options: ConnectOptions = {}): Promise<TestClient> {
  const client = await openClient(wsUrl, token, options);
  await client.next('welcome');
  return client;
}
