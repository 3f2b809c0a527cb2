import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { CloseCode, CloseCodeInfo, Welcome } from '@herald/client/protocol';
import { expiresAtOf } from '../auth/principal';
import { TokenVerifier } from '../auth/token.verifier';
import { Broker } from '../broker/broker';
import { HeraldConfig } from '../config/herald.config';
import { closeCodeOf, closeSocket, Connection } from '../connections/connection';
import { ConnectionHub } from '../connections/connection.hub';
import { corkUntil } from '../connections/turn-cork';
import { streamOf } from '../connections/ws.internals';
import { DrainService } from '../lifecycle/drain.service';
import { MetricsService } from '../metrics/metrics.service';
import { RoomsService } from '../rooms/rooms.service';
import { CompressionNegotiation } from './compression.negotiation';
import { FrameSender } from './frame.sender';
import { closeOversizedFramesWithReason } from './oversized-frame';
import { tokenOf } from './handshake';

/** RFC 6455's codes and the contract's: a close code label takes no other value. */
const KNOWN_CLOSE_CODES = new Set<number>([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, ...Object.values(CloseCode).map((info) => info.code)]);

/**
 * A close code as a metric label. A client may close with any code from 3000 to 4999, and each
 * would otherwise be a series of its own on every pod: any token could add thousands.
 */
export function closeCodeLabel(code: number): string {
  return KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/**
 * Admission (sections 1 and 7): drain, Origin, JWT, MAX_CONNECTIONS and broker health are
 * checked before a socket becomes a Connection, because Nest's guards never run on connect. An
 * admitted connection is put in its personal room, greeted with `welcome`, and only then handed
 * to the FrameDispatcher. Every socket's close, admitted or refused, is counted and cleaned up here.
 */
@Injectable()
export class ConnectionAdmission {
  private readonly logger = new Logger(ConnectionAdmission.name);
  /** Ids unique across pods and short: a random pod part and a counter. */
  private readonly podId = randomBytes(6).toString('base64url');
  private connectionCount = 0;

  /** Refused sockets still closing (their close handshake), which the hub does not know: see terminateAll. */
  private readonly refusedSockets = new Set<WebSocket>();
  /**
   * Sockets of connections this pod gave up on (onGivenUp), still closing: counted and cleaned up
   * already, and no longer the hub's, so terminateAll finds them here.
   */
  private readonly givenUpSockets = new Set<WebSocket>();

  /** Every socket's close and error, admitted or refused (HeraldSocket calls them with the socket as `this`). */
  readonly onClose: (this: WebSocket, code: number) => void;
  readonly onError: (this: WebSocket, error: Error) => void;
  /** A connection this pod closed before its socket can close (Connection.onGivenUp). */
  private readonly onGivenUp: (connection: Connection) => void;

  constructor(
    private readonly config: HeraldConfig,
    private readonly verifier: TokenVerifier,
    private readonly broker: Broker,
    private readonly drain: DrainService,
    private readonly hub: ConnectionHub,
    private readonly rooms: RoomsService,
    private readonly compression: CompressionNegotiation,
    private readonly frames: FrameSender,
    private readonly metrics: MetricsService,
  ) {
    const logger = this.logger;
    const refusedSockets = this.refusedSockets;
    const givenUp = this.givenUpSockets;
    const closed = (socket: WebSocket, code: number) => {
      metrics.closeCodes.inc({ code: closeCodeLabel(code) });
      if (code === CloseCode.SlowConsumer.code) metrics.slowConsumerCloses.inc();
      const connection = hub.connectionFor(socket);
      if (!connection) return;
      rooms.disconnect(connection).catch((error: unknown) =>
        logger.error({ message: 'Cleanup failed', connectionId: connection.id, error: String(error) }),
      );
    };
    this.onClose = function (reportedCode) {
      refusedSockets.delete(this);
      if (givenUp.delete(this)) return;
      closed(this, closeCodeOf(this, reportedCode));
    };
    // A slow consumer's close frame waits behind what it did not read, and its socket closes when
    // it reads that far or CLOSE_TIMEOUT_MS later; its rooms, presence and metrics do not wait.
    // After the turn: the hub may be going through the rooms it leaves.
    this.onGivenUp = (connection) => {
      givenUp.add(connection.socket);
      queueMicrotask(() => closed(connection.socket, CloseCode.SlowConsumer.code));
    };
    /** Socket errors are client-triggered (oversize frames, resets): each socket logs its own, at debug. */
    this.onError = function (error) {
      const connection = hub.connectionFor(this);
      logger.debug({ message: 'Socket error', connectionId: connection?.id, user: connection?.user, error: error.message });
    };
  }

  /** Takes a socket fresh from the handshake; it is admitted, or refused with a close code. */
  accept(socket: WebSocket, request: IncomingMessage): void {
    // Frames that arrive before admission completes wait in the socket. Its close (counted once,
    // refused connections included) and errors reach onClose and onError from the start
    // (HeraldSocket): a refused socket still reads until its close reply.
    socket.pause();
    closeOversizedFramesWithReason(socket);
    try {
      this.admit(socket, request);
    } catch (error) {
      this.failed(socket, error);
    }
  }

  /**
   * Checks the socket and puts its connection in its personal room: in this turn when the pod
   * already receives that room's channel (RoomsService.admit), so `welcome` leaves with the 101
   * response, else once the broker answers.
   */
  private admit(socket: WebSocket, request: IncomingMessage): void {
    if (this.drain.draining) return this.refuse(socket, CloseCode.ServiceRestart, 'draining');
    const origin = request.headers.origin;
    const allowed = this.config.allowedOrigins;
    if (allowed && origin !== undefined && !allowed.includes(origin)) return this.refuse(socket, CloseCode.OriginNotAllowed);
    const verification = this.verifier.verify(tokenOf(request));
    if (!verification.ok) return this.refuse(socket, verification.reason === 'token_expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized);
    if (this.hub.size >= this.config.maxConnections) return this.refuse(socket, CloseCode.TryAgainLater, 'max_connections');
    const perUser = this.config.maxConnectionsPerUser;
    if (perUser > 0 && this.hub.connectionCountOf(verification.principal.user) >= perUser) return this.refuse(socket, CloseCode.TryAgainLater, 'max_connections_per_user');
    if (!this.broker.available) return this.refuse(socket, CloseCode.TryAgainLater, 'broker_unavailable');

    const now = Date.now();
    const id = `${this.podId}.${(++this.connectionCount).toString(36)}`;
    const connection = new Connection(id, socket, verification.principal, this.config.sendBufferLimitBytes, this.config.rateLimitPerS, now, this.compression.compressionFor(socket), 2 * this.config.heartbeatMs, this.onGivenUp);
    let admitting;
    try {
      admitting = this.rooms.admit(connection, () => this.frames.send(connection, 'welcome', this.welcome(connection)));
    } catch (error) {
      return this.notAdmitted(socket, connection, error);
    }
    if (admitting === undefined) return this.open(socket, connection);
    const settled = admitting
      .then(
        () => this.open(socket, connection),
        (error: unknown) => this.notAdmitted(socket, connection, error),
      )
      .catch((error: unknown) => this.failed(socket, error));
    // The 101 response is still unsent (corked for the handshake's turn): it leaves with what
    // admission sends, one write instead of two.
    corkUntil(streamOf(socket), settled);
  }

  /** Admitted: its frames are read from now on. */
  private open(socket: WebSocket, connection: Connection): void {
    if (connection.state === 'closing') return;
    // Asked first: the record would otherwise be built for every connection only to be dropped.
    if (Logger.isLevelEnabled('debug')) this.logger.debug({ message: 'Connected', connectionId: connection.id, user: connection.user });
    // Its frames reach the FrameDispatcher (HeraldSocket) once the socket resumes.
    connection.open();
    // Liveness counts from here: the heartbeat leaves a connection alone while it is admitted.
    connection.lastSeenMs = Date.now();
    socket.resume();
  }

  private notAdmitted(socket: WebSocket, connection: Connection, error: unknown): void {
    // The socket is closing already (the client hung up, or a drain closed it): nothing failed.
    if (socket.readyState !== socket.OPEN) return;
    this.logger.warn({ message: 'Could not admit connection', connectionId: connection.id, user: connection.user, error: String(error) });
    this.refuse(socket, CloseCode.TryAgainLater, 'broker_unavailable');
  }

  /** A fault of this pod's own, not the broker's: the socket is closed with 1011. */
  private failed(socket: WebSocket, error: unknown): void {
    this.logger.error({ message: 'Admission failed', error: error instanceof Error ? error.stack : String(error) });
    this.refuse(socket, CloseCode.Internal);
  }

  private welcome(connection: Connection): Welcome {
    return {
      connectionId: connection.id,
      user: connection.user,
      heartbeatMs: this.config.heartbeatMs,
      maxMessageBytes: this.config.maxMessageBytes,
      rooms: this.hub.roomsOf(connection),
      expiresAt: expiresAtOf(connection.principal),
    };
  }

  private refuse(socket: WebSocket, how: Pick<CloseCodeInfo, 'code' | 'reason'>, metricReason: string = how.reason): void {
    this.metrics.rejectedConnections.inc({ reason: metricReason });
    // Resume first: a paused socket could not read the peer's close reply.
    socket.resume();
    if (socket.readyState !== socket.OPEN) return;
    this.refusedSockets.add(socket);
    closeSocket(socket, how);
  }

  /**
   * Drops every socket this pod still holds, admitted or refused, without a close handshake:
   * the server is going away (HeraldWsAdapter.close, after any drain). ws keeps no set of its
   * clients here (see HeraldWsAdapter.create), so these are the hub's connections and the refused
   * sockets still closing; an open socket left behind would hold the HTTP server's close.
   */
  terminateAll(): void {
    for (const connection of [...this.hub.all()]) connection.terminate();
    for (const socket of [...this.refusedSockets, ...this.givenUpSockets]) socket.terminate();
    this.refusedSockets.clear();
    // Given-up sockets leave the set in their close (onClose), which must not count them again.
  }
}
