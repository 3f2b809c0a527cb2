import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { INestApplicationContext, Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { HeraldConfig } from '../config/herald.config';
import { corkForThisTurn } from '../connections/turn-cork';
import { endReceiversOnce } from '../connections/ws.internals';
import { CompressionNegotiation } from './compression.negotiation';
import { ConnectionAdmission } from './connection.admission';
import { FrameDispatcher } from './frame.dispatcher';
import { forgetOffer, selectProtocol, tidyOfferedProtocols } from './handshake';
import { socketClassWith } from './herald-socket';
import { UpgradePath } from './upgrade-path';

/** The one "client" Nest binds the gateway's handlers to (see bindClientConnect). */
const GATEWAY_CLIENT = Object.freeze({ sharedBy: 'every connection; see FrameOrigin' });

/** Node's (24.9+) server option that picks which requests with an Upgrade header are upgrades. */
interface UpgradeChoice {
  shouldUpgradeCallback: (request: IncomingMessage) => boolean;
}

/** A complete plain-text answer to an upgrade that is not taken, so the client reads why. */
function upgradeRefusal(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The answer to an upgrade whose URL cannot be read; says nothing of what was sent. */
const BAD_UPGRADE_RESPONSE = upgradeRefusal('400 Bad Request', 'The request URL or Host header is not valid');

/**
 * Whether a request asks for a WebSocket: only those reach the upgrade listener. Node hands every
 * request with an Upgrade header to that listener once there is one, so `curl --http2` (which
 * offers `Upgrade: h2c`) or any proxy's other upgrade turned a health check or a publish into the
 * WebSocket path's 404; RFC 9110 lets a server ignore an upgrade it does not do, and serve the
 * request as it came.
 */
function asksForWebSocket(request: IncomingMessage): boolean {
  const upgrade = request.headers.upgrade;
  return upgrade !== undefined && upgrade.split(',').some((protocol) => protocol.trim().toLowerCase() === 'websocket');
}

/** Nest's port for gateways served by the application's own HTTP server. */
const APPLICATION_PORT = 0;

/**
 * Where Nest meets raw `ws`: builds the server with Herald's options, hands each new socket to
 * ConnectionAdmission and the gateway's handlers to the FrameDispatcher. Nothing else happens
 * here; whatever a socket does after its handshake is theirs.
 */
export class HeraldWsAdapter extends WsAdapter {
  private readonly serverLogger = new Logger(HeraldWsAdapter.name);
  private readonly config: HeraldConfig;
  private readonly admission: ConnectionAdmission;
  private readonly dispatcher: FrameDispatcher;
  private readonly compression: CompressionNegotiation;
  private gatewayBound = false;
  private readonly upgradePath = new UpgradePath();
  /**
   * The answer to an upgrade on a path no WebSocket server serves. Nest's listener drops the
   * socket without a word, and a client pointed at the wrong path (a proxy's prefix, a trailing
   * slash) saw only a failed connection: the 404 names WS_PATH.
   */
  private readonly notFoundResponse: string;
  /** The application's HTTP server, once its upgrades are routed here (ensureHttpServerExists). */
  private upgradeSource: (Server & UpgradeChoice) | undefined;
  /** Its own choice of which requests are upgrades, given back on dispose. */
  private formerUpgradeChoice: UpgradeChoice['shouldUpgradeCallback'] | undefined;

  constructor(app: INestApplicationContext & { getHttpServer(): unknown }) {
    super(app);
    this.config = app.get(HeraldConfig);
    this.admission = app.get(ConnectionAdmission);
    this.dispatcher = app.get(FrameDispatcher);
    this.compression = app.get(CompressionNegotiation);
    this.notFoundResponse = upgradeRefusal('404 Not Found', `No WebSocket endpoint at this path; connect to ${this.config.wsPath}`);
  }

  create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    endReceiversOnce();
    return super.create(port, {
      ...options,
      path: this.config.wsPath,
      maxPayload: this.config.maxMessageBytes,
      perMessageDeflate: this.compression.serverOption(),
      // A slow consumer closed with 4008 cannot read its close frame behind a full buffer, and a
      // vanished peer never answers: either would otherwise hold its socket for ws's 30 s.
      closeTimeout: this.config.closeTimeoutMs,
      handleProtocols: selectProtocol,
      // A text frame that is not UTF-8 is answered bad_request by parseFrame (section 2: a
      // malformed frame leaves the connection open), not failed with 1007 here. ws checks a
      // close frame's reason with the same switch: HeraldSocket.close answers such a reason 1007.
      skipUTF8Validation: true,
      // Protocol pings are rate-limited client frames (FrameDispatcher), not answered by ws.
      autoPong: false,
      // The hub knows every connection, and the drain closes them: ws's own set of clients cost
      // each socket a closure, a 'close' listener and a set entry.
      clientTracking: false,
      WebSocket: socketClassWith({
        close: this.admission.onClose,
        error: this.admission.onError,
        message: this.dispatcher.onMessage,
        ping: this.dispatcher.onPing,
        pong: this.dispatcher.onPong,
      }),
    });
  }

  /**
   * Routes the application server's upgrades to the gateway's WebSocket server as Nest's own
   * listener does (by path; an unknown path answers 404, a URL that cannot be read 400),
   * reading the path through UpgradePath rather than parsing every request's URL.
   */
  protected ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    if (port !== APPLICATION_PORT || httpServer === undefined) return super.ensureHttpServerExists(port, httpServer);
    if (this.httpServersRegistry.has(port)) return undefined;
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', this.onUpgrade);
    const source = httpServer as Server & UpgradeChoice;
    this.formerUpgradeChoice = source.shouldUpgradeCallback;
    source.shouldUpgradeCallback = asksForWebSocket;
    this.upgradeSource = source;
    return httpServer;
  }

  /** Nest's version terminates the server's tracked clients; this server tracks none (see create). */
  async close(server: WebSocketServer): Promise<void> {
    this.admission.terminateAll();
    await super.close(server);
  }

  async dispose(): Promise<void> {
    // Nest takes off only the listeners it added; the application's server outlives this adapter.
    if (this.upgradeSource) {
      this.upgradeSource.off('upgrade', this.onUpgrade);
      if (this.formerUpgradeChoice) this.upgradeSource.shouldUpgradeCallback = this.formerUpgradeChoice;
    }
    this.upgradeSource = undefined;
    await super.dispose();
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    try {
      const path = this.upgradePath.of(request);
      const server = (this.wsServersRegistry.get(APPLICATION_PORT) as (WebSocketServer & { path: string })[]).find((candidate) => candidate.path === path);
      if (!server) {
        socket.end(this.notFoundResponse);
        return;
      }
      // The 101 response then leaves with `welcome` (or the refusal's close frame) when that is
      // written in this turn, as it is whenever admission needs no broker round trip.
      corkForThisTurn(socket);
      this.compression.declineMalformedOffers(request.headers);
      tidyOfferedProtocols(request.headers);
      server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
    } catch {
      // The request's URL and Host make no URL (Nest's own listener answers this too, but with a
      // status line and nothing else): a complete response, so the client reads why.
      socket.end(BAD_UPGRADE_RESPONSE);
    } finally {
      // Admission read the token in this turn, or never will (the handshake was refused first).
      forgetOffer();
    }
  };

  bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('error', (error: Error) => this.serverLogger.error({ message: 'WebSocket server error', error: error.message }));
    return server;
  }

  /**
   * Nest's version adds a 'close' listener per socket to feed handleDisconnect, which
   * HeraldGateway does not implement: cleanup is ConnectionAdmission's shared close listener.
   */
  bindClientDisconnect(): void {
    // Intentionally nothing; see above.
  }

  /**
   * Nest's connection handler binds the gateway's message handlers to a socket: six bound
   * functions and their records per connection, about 1 KB, which at tens of thousands of
   * connections is most of what a connection costs beyond `ws` itself. Herald calls it once,
   * for GATEWAY_CLIENT, and the FrameDispatcher sends every socket's frames to those shared
   * handlers; the frame's own connection reaches guards, handlers and filters through its
   * FrameOrigin (`@FrameConnection()`), not through `getClient()`. HeraldGateway implements
   * neither handleConnection nor handleDisconnect, which would otherwise need the real socket here.
   */
  bindClientConnect(server: WebSocketServer, bindGateway: (client: unknown) => void): void {
    if (this.gatewayBound) throw new Error('HeraldWsAdapter serves one gateway');
    this.gatewayBound = true;
    bindGateway(GATEWAY_CLIENT);
    server.on('connection', (socket: WebSocket, request: IncomingMessage) => this.admission.accept(socket, request));
  }

  /**
   * Called once, for GATEWAY_CLIENT (above): the handlers every connection's frames go to.
   * Nest's reply transform is not needed: the FrameDispatcher sends replies itself (see its `reply`).
   */
  bindMessageHandlers(_client: unknown, handlers: MessageMappingProperties[]): void {
    this.dispatcher.bind(handlers);
  }
}
