import { Injectable, Logger, Optional } from '@nestjs/common';
import { Joined, PresenceStatus, ROOM_NAME_PATTERN, ChatMessage, PERSONAL_ROOM_PREFIX, personalRoom } from '@herald/client/protocol';
import { mayChatIn, mayJoin } from '../auth/room-access.policy';
import { Broker, BrokerUnavailableError, Delivery, HistoryResult } from '../broker/broker';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from '../connections/connection';
import { ConnectionRegistry } from '../connections/connection.registry';
import { MetricsService } from '../metrics/metrics.service';
import { JoinAuthorizer } from './join-authorizer';
import { RoomActivity, RoomActivityListener } from './room-activity';
import { RoomError } from './rooms.errors';
import { RoomSubscriptions } from './room-subscriptions';

const NO_HISTORY: HistoryResult = { latestSeq: null, recovered: false, publications: [] };

/**
 * Room membership for this pod's connections, on top of the broker: subscribe-then-read-history
 * joins that neither lose nor repeat a message, presence, and chat messages.
 */
@Injectable()
export class RoomsService {
  private readonly logger = new Logger(RoomsService.name);
  private readonly subscriptions: RoomSubscriptions;
  private activityListener: RoomActivityListener | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly registry: ConnectionRegistry,
    private readonly config: HeraldConfig,
    private readonly metrics: MetricsService,
    /** The join proxy, when JOIN_PROXY_URL is set. */
    @Optional() private readonly joinAuthorizer?: JoinAuthorizer,
  ) {
    this.subscriptions = new RoomSubscriptions(broker);
    broker.onDelivery((delivery) => this.deliver(delivery));
    broker.onPresenceExpired((room, user, users) =>
      // A user whose pod died left without saying so: tell the room as for any last leave.
      this.tellRoom(room, user, 'left', users + 1).catch((error: unknown) =>
        this.logger.warn({ message: 'Could not announce an expired presence', room, error: String(error) }),
      ),
    );
  }

  /** Admits a connection and puts it in its personal room before `welcome` is sent. */
  async admit(connection: Connection, onWelcome: () => void): Promise<void> {
    this.registry.add(connection);
    this.metrics.connections.set(this.registry.size);
    try {
      // No history read: welcome carries no seq for the personal room, so there is nothing to anchor.
      await this.enter(connection, personalRoom(connection.user), undefined, { readHistory: false }, onWelcome);
    } catch (error) {
      await this.disconnect(connection);
      throw error;
    }
    if (!connection.closed) this.tell({ kind: 'connected', user: connection.user, connectionId: connection.id });
  }

  /** The one listener told of every admission, close, join and leave on this pod (backend hooks). */
  onActivity(listener: RoomActivityListener): void {
    this.activityListener = listener;
  }

  async join(connection: Connection, room: string, since: string | undefined, onJoined: (joined: Joined) => void): Promise<void> {
    this.assertRoomName(room);
    const granted = mayJoin(connection.principal, room);
    if (!granted && !this.joinAuthorizer?.covers(room)) throw new RoomError('forbidden', `Not allowed to join ${room}`);
    this.assertMayEnter(connection, room);
    if (!granted) {
      await this.joinAuthorizer!.authorize(connection.principal, room);
      // The backend took a while: the client may have gone, or another join of this room started.
      if (connection.closed) return;
      this.assertMayEnter(connection, room);
    }
    return this.enter(connection, room, since, { readHistory: true }, onJoined);
  }

  private assertMayEnter(connection: Connection, room: string): void {
    if (this.registry.isJoining(connection, room)) throw new RoomError('bad_request', `Already joining ${room}`);
    if (!this.registry.isMember(connection, room) && connection.rooms.size >= this.config.maxRoomsPerConnection) {
      throw new RoomError('forbidden', `A connection may be in at most ${this.config.maxRoomsPerConnection} rooms`);
    }
  }

  async leave(connection: Connection, room: string): Promise<void> {
    this.assertRoomName(room);
    if (!this.registry.leave(connection, room)) throw new RoomError('not_member', `Not a member of ${room}`);
    this.afterLeave(connection, room);
  }

  async sendMessage(connection: Connection, room: string, text: string): Promise<string> {
    this.assertRoomName(room);
    if (!mayChatIn(room)) throw new RoomError('forbidden', `Only the publish API writes to ${PERSONAL_ROOM_PREFIX}* rooms`);
    if (!this.registry.isMember(connection, room)) throw new RoomError('not_member', `Join ${room} before sending to it`);
    const { user, name } = connection.principal;
    const body: Omit<ChatMessage, 'seq'> = { room, user, ...(name ? { name } : {}), text, timestamp: new Date().toISOString() };
    const result = await this.broker.publish(room, 'message', body);
    if (result.duplicate) throw new RoomError('internal', 'Message was reported as a duplicate');
    return result.seq;
  }

  /** Cleans up everywhere after any kind of close. Safe to call more than once. */
  async disconnect(connection: Connection): Promise<void> {
    connection.closed = true;
    const rooms = [...connection.rooms];
    this.registry.remove(connection);
    this.metrics.connections.set(this.registry.size);
    this.tell({ kind: 'disconnected', user: connection.user, connectionId: connection.id });
    await Promise.all(rooms.map((room) => this.afterLeave(connection, room)));
  }

  stats() {
    return { ...this.registry.stats(), subscriptions: this.subscriptions.size };
  }

  /**
   * Joins a room without losing or repeating a message: subscribe, then read history, then
   * hand over to live delivery. At the hand-over `onJoined` (the reply) and then the replay are
   * sent synchronously, so nothing live can slip in before them.
   */
  private async enter(
    connection: Connection,
    room: string,
    since: string | undefined,
    { readHistory }: { readHistory: boolean },
    onJoined: (joined: Joined) => void,
  ): Promise<void> {
    const alreadyMember = this.registry.isMember(connection, room);
    // A member already gets live frames; buffering them too would send them twice.
    if (!alreadyMember) this.registry.beginJoin(connection, room);
    let admitted = alreadyMember;
    try {
      if (!alreadyMember) await this.subscriptions.acquire(room);
      // Subscribed first, then history: anything published in between is in both, and the
      // buffer below drops what history already covered.
      const history = readHistory ? await this.broker.history(room, since) : NO_HISTORY;
      const joined: Joined = { room, seq: history.latestSeq };
      const replay: Delivery[] = [];
      if (since !== undefined) {
        joined.recovered = history.recovered;
        if (history.recovered) {
          joined.missed = history.publications.length;
          replay.push(...history.publications);
        }
        this.metrics.historyReplays.inc({ outcome: history.recovered ? 'recovered' : 'not_recovered' });
      }
      if (!alreadyMember) {
        if (connection.closed) throw new RoomError('internal', 'Connection closed while joining');
        const buffered = this.registry.endJoin(connection, room, true);
        admitted = true;
        const lastSeq = replay.length > 0 ? replay[replay.length - 1].seq! : history.latestSeq;
        for (const delivery of buffered) {
          if (delivery.seq !== undefined && lastSeq !== null && delivery.seq <= lastSeq) continue;
          replay.push(delivery);
        }
        this.metrics.rooms.set(this.registry.roomCount);
      }
      onJoined(joined);
      for (const delivery of replay) connection.send(delivery.frame);
    } catch (error) {
      if (!admitted) {
        this.registry.endJoin(connection, room, false);
        this.subscriptions.release(room);
      }
      throw error instanceof BrokerUnavailableError ? new RoomError('unavailable', error.message) : error;
    }
    // After the reply: the join has happened whatever presence does next.
    if (alreadyMember) return;
    this.tell({ kind: 'joined', room, connectionId: connection.id });
    await this.announce(connection, room, 'joined');
  }

  private async afterLeave(connection: Connection, room: string): Promise<void> {
    this.subscriptions.release(room);
    this.metrics.rooms.set(this.registry.roomCount);
    this.tell({ kind: 'left', room, connectionId: connection.id });
    await this.announce(connection, room, 'left');
  }

  /**
   * Records presence and, in small rooms, tells the other users (section 2, presence rule).
   * Personal rooms are left out: their only members are the user's own connections, and
   * tracking them would cost a broker round trip and memory for every connection.
   */
  private async announce(connection: Connection, room: string, status: PresenceStatus): Promise<void> {
    if (room.startsWith(PERSONAL_ROOM_PREFIX)) return;
    try {
      const change =
        status === 'joined'
          ? await this.broker.addPresence(room, connection.user, connection.id)
          : await this.broker.removePresence(room, connection.user, connection.id);
      if (!change.userChanged) return;
      await this.tellRoom(room, connection.user, status, status === 'joined' ? change.users : change.users + 1);
    } catch (error) {
      // The join or leave itself is done and answered. An unreachable broker re-registers this
      // pod's presence when it returns (Redis) and forgets a dead pod's entries on expiry.
      this.logger.warn({ message: 'Presence update failed', room, status, connectionId: connection.id, error: String(error) });
    }
  }

  private async tellRoom(room: string, user: string, status: PresenceStatus, usersIncludingThisOne: number): Promise<void> {
    if (usersIncludingThisOne > this.config.presenceEventsMaxUsers) return;
    const frame = JSON.stringify({ event: 'presence', data: { room, user, status, timestamp: new Date().toISOString() } });
    await this.broker.broadcast(room, frame, user);
  }

  private deliver(delivery: Delivery): void {
    const sent = this.registry.deliver(delivery);
    if (sent === 0) return;
    this.metrics.deliveries.inc(sent);
    if (delivery.publishedAtMs !== undefined) this.metrics.publishToSend.observe((Date.now() - delivery.publishedAtMs) / 1000);
  }

  private tell(activity: RoomActivity): void {
    try {
      this.activityListener?.(activity);
    } catch (error) {
      this.logger.error({ message: 'Room activity listener failed', kind: activity.kind, error: String(error) });
    }
  }

  private assertRoomName(room: string): void {
    if (!ROOM_NAME_PATTERN.test(room)) throw new RoomError('invalid_room', `Room names match ${ROOM_NAME_PATTERN.source}`);
  }
}
