import { UseFilters, UseGuards } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { expiresAtOf } from '../auth/principal';
import { TokenVerifier } from '../auth/token.verifier';
import { BrokerUnavailableError } from '../broker/broker';
import { Connection } from '../connections/connection';
import { MetricsService } from '../metrics/metrics.service';
import { ConnectionHub } from '../connections/connection.hub';
import { RoomsService } from '../rooms/rooms.service';
import { JoinDto } from './dto/join.dto';
import { LeaveDto } from './dto/leave.dto';
import { MessageDto } from './dto/message.dto';
import { RefreshDto } from './dto/refresh.dto';
import type { Reply } from './frame.dispatcher';
import { FrameSender } from './frame.sender';
import { FrameConnection, FrameFrom } from './frame-context';
import type { FrameOrigin } from './frame-context';
import { WsErrorFilter, wsError } from './ws-error.filter';
import { WsJwtGuard } from './ws-jwt.guard';

/**
 * The client events of section 2 but `pong`, which is liveness only (FrameDispatcher answers
 * for it as for a protocol pong). Admission (token, limits, welcome) happens earlier, in
 * ConnectionAdmission, because guards do not run on connection; here every frame is a known event
 * with data validated by the global ValidationPipe (failures become `bad_request`), and every
 * reply carries the frame's `id` (the FrameDispatcher adds it). Handlers take the sending connection
 * from `@FrameConnection()` (or it and the `id` from `@FrameFrom()`): Nest's `@ConnectedSocket()`
 * would only see the one placeholder client the adapter binds these handlers to for every socket.
 */
@WebSocketGateway({ path: '/ws' }) // the adapter replaces the path with WS_PATH
@UseFilters(WsErrorFilter)
@UseGuards(WsJwtGuard)
export class HeraldGateway {
  constructor(
    private readonly rooms: RoomsService,
    private readonly hub: ConnectionHub,
    private readonly verifier: TokenVerifier,
    private readonly frames: FrameSender,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Answers `joined` itself (not by returning it): the hub sends it just before the replay.
   * Returns undefined when the join was done in this turn (RoomsService.join). A join that a
   * refresh narrowed while it waited is followed by an unprompted `left`, as the refresh's are.
   */
  @SubscribeMessage('join')
  join(@FrameFrom() { connection, id }: FrameOrigin, @MessageBody() { room, since }: JoinDto): Promise<void> | undefined {
    return this.rooms.join(
      connection,
      room,
      since,
      (joined) => this.frames.send(connection, 'joined', joined, id),
      (revoked) => this.frames.send(connection, 'left', { room: revoked }),
    );
  }

  @SubscribeMessage('leave')
  async leave(@FrameConnection() connection: Connection, @MessageBody() { room }: LeaveDto): Promise<Reply<'left'>> {
    await this.rooms.leave(connection, room);
    return { event: 'left', data: { room } };
  }

  @SubscribeMessage('message')
  async message(@FrameConnection() connection: Connection, @MessageBody() { room, text }: MessageDto): Promise<Reply<'ack'>> {
    const seq = await this.rooms.sendMessage(connection, room, text).catch(this.countRefusedForReplicas);
    return { event: 'ack', data: { seq } };
  }

  /** A chat message refused for want of replicas counts as a notification does (herald_publishes_refused_replicas_total); rethrows. */
  private readonly countRefusedForReplicas = (error: unknown): never => {
    if (error instanceof BrokerUnavailableError && error.forWantOfReplicas) this.metrics.publishesRefusedForReplicas.inc();
    throw error;
  };

  @SubscribeMessage('refresh')
  refresh(@FrameConnection() connection: Connection, @MessageBody() { token }: RefreshDto): Reply<'refreshed'> {
    const verification = this.verifier.verify(token);
    if (!verification.ok) throw wsError('unauthorized', verification.reason === 'token_expired' ? 'The new token has expired' : 'The new token is invalid');
    if (verification.principal.user !== connection.user) throw wsError('unauthorized', 'The new token is for another user');
    const previous = connection.principal;
    this.hub.swapPrincipal(connection, verification.principal);
    // Unprompted `left` frames, before `refreshed`: the rooms the new token no longer grants.
    for (const room of this.rooms.revokeUngranted(connection, previous)) this.frames.send(connection, 'left', { room });
    return { event: 'refreshed', data: { expiresAt: expiresAtOf(verification.principal) } };
  }

  @SubscribeMessage('ping')
  ping(): Reply<'pong'> {
    return { event: 'pong', data: undefined };
  }

}
