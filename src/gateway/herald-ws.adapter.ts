import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { INestApplicationContext, Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { EMPTY, Observable, isObservable } from 'rxjs';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { CLIENT_EVENTS, CloseCode, CloseCodeInfo, Welcome } from '@herald/client/protocol';
import { expiresAtOf } from '../auth/principal';
import { TokenVerifier } from '../auth/token.verifier';
import { Broker } from '../broker/broker';
import { HeraldConfig } from '../config/herald.config';
import { closeCodeOf, closeSocket, Connection } from '../connections/connection';
import { ConnectionRegistry } from '../connections/connection.registry';
import { FrameCompression } from '../connections/prepared-frame';
import { DrainService } from '../lifecycle/drain.service';
import { MetricsService } from '../metrics/metrics.service';
import { RoomsService } from '../rooms/rooms.service';
import { ClientFrames } from './client-frames';
import { rememberFrame } from './frame-context';
import { parseFrame } from './frame.parser';
import { closeOversizedFramesWithReason } from './oversized-frame';
import { selectProtocol, tokenOf } from './handshake';

type Transform = (data: unknown) => Observable<unknown>;
const KNOWN_EVENTS = new Set<string>(CLIENT_EVENTS);
/** The one "client" Nest binds the gateway's handlers to (see bindClientConnect). */
const GATEWAY_CLIENT = Object.freeze({ sharedBy: 'every connection; see FrameOrigin' });

/**
 * The connection edge, on top of Nest's raw-ws adapter: admission (drain, Origin, JWT,
 * MAX_CONNECTIONS, broker health) before a socket reaches the gateway, then per-frame liveness,
 * rate limiting and parsing, so the gateway only ever sees well-formed known events.
 */
export class HeraldWsAdapter extends WsAdapter {
  protected readonly edgeLogger = new Logger(HeraldWsAdapter.name);
  protected readonly config: HeraldConfig;
  protected readonly verifier: TokenVerifier;
  protected readonly registry: ConnectionRegistry;
  protected readonly rooms: RoomsService;
  protected readonly metrics: MetricsService;
  protected readonly broker: Broker;
  protected readonly drain: DrainService;
  protected readonly frames: ClientFrames;

  /** Ids unique across pods and short: a random pod part and a counter. */
  private readonly podId = randomBytes(6).toString('base64url');
  private connectionCount = 0;
  /** The gateway's handlers by event (only the contract's events), and Nest's reply transform. */
  private readonly handlers = new Map<string, MessageMappingProperties>();
  private transform: Transform = () => EMPTY;
  /** One shared FrameCompression per agreed window (almost always just 15), not one per socket. */
  private readonly compressionByWindowBits = new Map<number, FrameCompression>();

  /*
   * Socket listeners shared by every connection (ws calls them with the socket as `this`):
   * no closures per connection, which at tens of thousands of idle sockets is real memory.
   */
  private readonly onPong: (this: WebSocket) => void;
  private readonly onPing: (this: WebSocket, data: Buffer) => void;
  private readonly onSocketError: (this: WebSocket, error: Error) => void;
  private readonly onSocketClose: (this: WebSocket, code: number) => void;
  private readonly onSocketMessage: (this: WebSocket, raw: RawData, isBinary: boolean) => void;

  constructor(app: INestApplicationContext & { getHttpServer(): unknown }) {
    super(app);
    const adapter = this;
    this.config = app.get(HeraldConfig);
    this.verifier = app.get(TokenVerifier);
    this.registry = app.get(ConnectionRegistry);
    this.rooms = app.get(RoomsService);
    this.metrics = app.get(MetricsService);
    this.broker = app.get(Broker);
    this.drain = app.get(DrainService);
    this.frames = app.get(ClientFrames);
    const { registry, edgeLogger, metrics, rooms } = this;
    this.onPong = function () {
      const connection = registry.connectionFor(this);
      if (connection) connection.lastSeenMs = Date.now();
    };
    /*
     * Protocol pings are client frames like any other (section 2's rate limit): ws's own
     * automatic pong would instead answer a flood until its pending-pong cap, then drop the TCP
     * connection with no close frame (1006), telling the client nothing.
     */
    this.onPing = function (data) {
      const connection = registry.connectionFor(this);
      if (!connection || connection.closed) return;
      const now = Date.now();
      connection.lastSeenMs = now;
      const allowance = connection.bucket.take(now);
      if (allowance === 'close') connection.close(CloseCode.RateLimited);
      // A ping past the rate limit gets no pong, as a frame past it gets no reply.
      else if (allowance === 'ok') this.pong(data);
      else metrics.rateLimited.inc();
    };
    this.onSocketError = function (error) {
      const connection = registry.connectionFor(this);
      edgeLogger.debug({ message: 'Socket error', connectionId: connection?.id, user: connection?.user, error: error.message });
    };
    this.onSocketClose = function (reportedCode) {
      const code = closeCodeOf(this, reportedCode);
      metrics.closeCodes.inc({ code: String(code) });
      if (code === CloseCode.SlowConsumer.code) metrics.slowConsumerCloses.inc();
      const connection = registry.connectionFor(this);
      if (!connection) return;
      rooms.disconnect(connection).catch((error: unknown) =>
        edgeLogger.error({ message: 'Cleanup failed', connectionId: connection.id, error: String(error) }),
      );
    };
    this.onSocketMessage = function (raw, isBinary) {
      const connection = registry.connectionFor(this);
      if (connection) adapter.onFrame(connection, raw, isBinary);
    };
  }

  create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    return super.create(port, {
      ...options,
      path: this.config.wsPath,
      maxPayload: this.config.maxMessageBytes,
      perMessageDeflate: this.compressionOptions(),
      // A slow consumer closed with 4008 cannot read its close frame behind a full buffer, and a
      // vanished peer never answers: either would otherwise hold its socket for ws's 30 s.
      closeTimeout: this.config.closeTimeoutMs,
      handleProtocols: selectProtocol,
      autoPong: false, // see onPing
    });
  }

  /**
   * permessage-deflate only when WS_COMPRESSION asks for it. The server always agrees
   * server_no_context_takeover, so a broadcast is compressed once for every socket that agreed
   * the same window (PreparedFrame.compressedWire) and ws never compresses anything itself.
   * What remains per socket is inflating what the client compresses (browsers compress every
   * frame): ws keeps a zlib inflate stream for such a socket, reset after each message.
   */
  private compressionOptions(): false | Record<string, unknown> {
    if (!this.config.wsCompression.enabled) return false;
    return { serverNoContextTakeover: true, clientNoContextTakeover: true, concurrencyLimit: 10 };
  }

  /** How this socket gets compressed broadcasts, or undefined when it did not negotiate them. */
  private compressionFor(socket: WebSocket): FrameCompression | undefined {
    if (!this.config.wsCompression.enabled) return undefined;
    const deflate = (socket as unknown as { _extensions: Record<string, { params: { server_max_window_bits?: number } } | undefined> })._extensions['permessage-deflate'];
    if (!deflate) return undefined;
    const windowBits = deflate.params.server_max_window_bits ?? 15;
    // zlib makes no raw deflate stream with a 256-byte window: such a client gets plain frames.
    if (windowBits < 9) return undefined;
    let compression = this.compressionByWindowBits.get(windowBits);
    if (!compression) this.compressionByWindowBits.set(windowBits, (compression = { fromBytes: this.config.wsCompression.minBytes, windowBits }));
    return compression;
  }

  /** Socket errors are client-triggered (oversize frames, resets): each socket logs its own, at debug. */
  bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('error', (error: Error) => this.edgeLogger.error({ message: 'WebSocket server error', error: error.message }));
    return server;
  }

  /**
   * Nest's version adds a 'close' listener per socket to feed handleDisconnect, which
   * HeraldGateway does not implement: cleanup is the adapter's own `onSocketClose`.
   */
  bindClientDisconnect(): void {
    // Intentionally nothing; see above.
  }

  /**
   * Nest's connection handler binds the gateway's message handlers to a socket: six bound
   * functions and their records per connection, about 1 KB, which at tens of thousands of
   * connections is most of what a connection costs beyond `ws` itself. Herald calls it once,
   * for GATEWAY_CLIENT, and dispatches every socket's frames to those shared handlers; the
   * frame's own connection reaches guards, handlers and filters through its FrameOrigin
   * (`@FrameConnection()`), not through `getClient()`. HeraldGateway implements neither
   * handleConnection nor handleDisconnect, which would otherwise need the real socket here.
   */
  bindClientConnect(server: WebSocketServer, bindGateway: (client: unknown) => void): void {
    if (this.handlers.size > 0) throw new Error('HeraldWsAdapter serves one gateway');
    bindGateway(GATEWAY_CLIENT);
    server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      // Frames that arrive before admission completes wait in the socket.
      socket.pause();
      // Every close is counted here once, refused connections included.
      socket.on('close', this.onSocketClose); // ws emits 'close' once; `once` would add a wrapper per socket
      // From the start: a refused socket still reads until its close reply, and ws reports a bad
      // frame as an 'error' event, which with no listener would throw and end the process.
      socket.on('error', this.onSocketError);
      closeOversizedFramesWithReason(socket);
      this.admit(socket, request).catch((error: unknown) => {
        this.edgeLogger.error({ message: 'Admission failed', error: error instanceof Error ? error.stack : String(error) });
        this.refuse(socket, CloseCode.Internal);
      });
    });
  }

  /** Called once, for GATEWAY_CLIENT (above): the handlers every connection's frames go to. */
  bindMessageHandlers(_client: unknown, handlers: MessageMappingProperties[], transform: Transform): void {
    for (const handler of handlers) {
      if (KNOWN_EVENTS.has(handler.message as string)) this.handlers.set(handler.message as string, handler);
    }
    this.transform = transform;
  }

  private async admit(socket: WebSocket, request: IncomingMessage): Promise<void> {
    if (this.drain.draining) return this.refuse(socket, CloseCode.ServiceRestart, 'draining');
    const origin = request.headers.origin;
    const allowed = this.config.allowedOrigins;
    if (allowed && origin !== undefined && !allowed.includes(origin)) return this.refuse(socket, CloseCode.OriginNotAllowed);
    const verification = this.verifier.verify(tokenOf(request));
    if (!verification.ok) return this.refuse(socket, verification.reason === 'token_expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized);
    if (this.registry.size >= this.config.maxConnections) return this.refuse(socket, CloseCode.TryAgainLater, 'max_connections');
    if (!this.broker.available) return this.refuse(socket, CloseCode.TryAgainLater, 'broker_unavailable');

    const now = Date.now();
    const id = `${this.podId}.${(++this.connectionCount).toString(36)}`;
    const connection = new Connection(id, socket, verification.principal, this.config.sendBufferLimitBytes, this.config.rateLimitPerS, now, this.compressionFor(socket));
    socket.on('pong', this.onPong);
    socket.on('ping', this.onPing);
    try {
      await this.rooms.admit(connection, () => this.frames.send(connection, 'welcome', this.welcome(connection)));
    } catch (error) {
      // The socket is closing already (the client hung up, or a drain closed it): nothing failed.
      if (socket.readyState !== socket.OPEN) return;
      this.edgeLogger.warn({ message: 'Could not admit connection', connectionId: connection.id, user: connection.user, error: String(error) });
      return this.refuse(socket, CloseCode.TryAgainLater, 'broker_unavailable');
    }
    if (connection.closed) return;
    this.edgeLogger.debug({ message: 'Connected', connectionId: connection.id, user: connection.user });
    socket.on('message', this.onSocketMessage);
    // Liveness counts from here: the heartbeat leaves a connection alone while it is admitted.
    connection.lastSeenMs = Date.now();
    socket.resume();
  }

  private welcome(connection: Connection): Welcome {
    return {
      connectionId: connection.id,
      user: connection.user,
      heartbeatMs: this.config.heartbeatMs,
      maxMessageBytes: this.config.maxMessageBytes,
      rooms: [...connection.rooms],
      expiresAt: expiresAtOf(connection.principal),
    };
  }

  private refuse(socket: WebSocket, how: Pick<CloseCodeInfo, 'code' | 'reason'>, metricReason: string = how.reason): void {
    this.metrics.rejectedConnections.inc({ reason: metricReason });
    // Resume first: a paused socket could not read the peer's close reply.
    socket.resume();
    if (socket.readyState === socket.OPEN) closeSocket(socket, how);
  }

  private onFrame(connection: Connection, raw: RawData, isBinary: boolean): void {
    const now = Date.now();
    connection.lastSeenMs = now;
    if (connection.closed) return;
    const allowance = connection.bucket.take(now);
    if (allowance === 'close') {
      connection.close(CloseCode.RateLimited);
      return;
    }
    const parsed = parseFrame(raw, isBinary, this.config.maxJsonDepth);
    if (allowance === 'drop') {
      this.metrics.rateLimited.inc();
      this.frames.error(connection, 'rate_limited', 'Too many frames: slow down', parsed.ok ? parsed.event : undefined, parsed.id);
      return;
    }
    if (!parsed.ok) {
      this.frames.error(connection, 'bad_request', parsed.problem, parsed.event, parsed.id);
      return;
    }
    const handler = this.handlers.get(parsed.event);
    if (!handler) {
      this.frames.error(connection, 'bad_request', `Unknown event "${parsed.event}"`, parsed.event, parsed.id);
      return;
    }
    this.metrics.framesIn.inc({ event: parsed.event });
    rememberFrame(parsed.data, connection, parsed.id);
    let result: Observable<unknown>;
    try {
      result = this.transform(handler.callback(parsed.data, parsed.event));
    } catch (error) {
      // Nest's proxy catches handler errors; reaching here means a bug in the pipeline itself.
      this.edgeLogger.error({ message: 'Handler pipeline threw', event: parsed.event, error: String(error) });
      this.frames.error(connection, 'internal', 'Internal error', parsed.event, parsed.id);
      return;
    }
    (isObservable(result) ? result : EMPTY).subscribe({
      next: (reply) => {
        if (!isReply(reply)) return;
        this.frames.send(connection, reply.event, reply.data, parsed.id);
      },
      error: (error: unknown) => this.edgeLogger.error({ message: 'Reply stream failed', event: parsed.event, error: String(error) }),
    });
  }

}

function isReply(value: unknown): value is { event: string; data: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { event?: unknown }).event === 'string';
}
