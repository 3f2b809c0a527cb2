import type { IncomingMessage } from 'node:http';
import { INestApplicationContext, Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { HeraldConfig } from '../config/herald.config';
import { CompressionNegotiation } from './compression.negotiation';
import { ConnectionAdmission } from './connection.admission';
import { FrameDispatcher } from './frame.dispatcher';
import { selectProtocol } from './handshake';

/** The one "client" Nest binds the gateway's handlers to (see bindClientConnect). */
const GATEWAY_CLIENT = Object.freeze({ sharedBy: 'every connection; see FrameOrigin' });

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

  constructor(app: INestApplicationContext & { getHttpServer(): unknown }) {
    super(app);
    this.config = app.get(HeraldConfig);
    this.admission = app.get(ConnectionAdmission);
    this.dispatcher = app.get(FrameDispatcher);
    this.compression = app.get(CompressionNegotiation);
  }

  create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    return super.create(port, {
      ...options,
      path: this.config.wsPath,
      maxPayload: this.config.maxMessageBytes,
      perMessageDeflate: this.compression.serverOption(),
      // A slow consumer closed with 4008 cannot read its close frame behind a full buffer, and a
      // vanished peer never answers: either would otherwise hold its socket for ws's 30 s.
      closeTimeout: this.config.closeTimeoutMs,
      handleProtocols: selectProtocol,
      // Protocol pings are rate-limited client frames (FrameDispatcher), not answered by ws.
      autoPong: false,
    });
  }

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
