import { Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { Joined, PresenceStatus, ROOM_NAME_PATTERN, ChatMessage, PERSONAL_ROOM_PREFIX, isPersonalRoom, personalRoom } from '@herald/client/protocol';
import { mayChatIn, mayJoin } from '../auth/room-access.policy';
import { Broker, BROKER_UNAVAILABLE_FOR_CLIENTS, BrokerUnavailableError } from '../broker/broker';
import { PresenceAnnouncement, PresenceStore, announcedFrame } from '../broker/presence.store';
import { HeraldConfig } from '../config/herald.config';
import { Principal } from '../auth/principal';
import { Connection } from '../connections/connection';
import { ConnectionHub, EnterOptions, EnterOutcome } from '../connections/connection.hub';
import { JoinAuthorizer } from './join-authorizer';
import { RoomActivity, RoomActivityListener } from './room-activity';
import { RoomError } from './rooms.errors';
import { UntoldPresence, presentAmong, readUnheard, toldKey, usersIfStillHolds } from './untold-presence';

/**
 * What a connection may do with rooms, and what the cluster hears of it: the one place a join
 * is authorized (`join`: the token's claim, else the join proxy), chat messages, presence, and
 * the activity backend hooks count (every admission, close, join and leave, told after it
 * happened). Membership itself is the hub's (ConnectionHub); this service tells it what to do.
 */
@Injectable()
export class RoomsService implements OnModuleDestroy {
  private readonly logger = new Logger(RoomsService.name);
  private activityListener: RoomActivityListener | undefined;
  private readonly untold: UntoldPresence;
  /** Presence updates that failed since the broker was last available: logged once, then counted. */
  private presenceFailures = 0;
  /** Cleanups under way (disconnect), for `departed`. */
  private readonly departures = new Set<Promise<void>>();
  /** The look at what this pod's members were told, due after the broker came back (correctToldPresence). */
  private presenceCheck: NodeJS.Timeout | undefined;
  /** Counts availability changes (and the module's end): a look scheduled in an earlier one is not scheduled any more. */
  private presenceRound = 0;
  /** The look at changes that failed while the broker stayed available (lookAfterPartialOutage). */
  private partialOutageLook: NodeJS.Timeout | undefined;
  /**
   * From when this pod may have missed what its rooms' channels carried: a little before the
   * broker was lost (a silent Redis is noticed within its command deadline and a health PING),
   * kept across losses until a look after a return has told what was missed (tellUnheard).
   */
  private unheardSinceMs: number | undefined;
  /** What every join and leave asks the store to tell (PRESENCE_EVENTS_MAX_USERS), one object for all. */
  private readonly announcement: PresenceAnnouncement;

  constructor(
    private readonly broker: Broker,
    private readonly presence: PresenceStore,
    private readonly hub: ConnectionHub,
    private readonly config: HeraldConfig,
    /** The join proxy, when JOIN_PROXY_URL is set. */
    @Optional() private readonly joinAuthorizer?: JoinAuthorizer,
  ) {
    this.announcement = Object.freeze({ maxUsers: config.presenceEventsMaxUsers });
    this.untold = new UntoldPresence(presence, (room, user, status, users) => this.tellRoom(room, user, status, users));
    broker.onAvailabilityChange((available) => {
      clearTimeout(this.presenceCheck);
      // The look at the return below takes over from a partial outage's.
      this.cancelPartialOutageLook();
      const round = ++this.presenceRound;
      // Who is told `left` from the loss until the look below: the first pods back find the users
      // of pods that have not registered their entries again gone, and tell so. From where the
      // look asks the store who left (unheardSinceMs): a `left` told here just before the loss was
      // noticed is among the departures it reads, and was told again.
      if (!available) this.unheardSinceMs ??= Date.now() - 2 * this.config.redisCommandTimeoutMs;
      this.hub.toldPresence.watchLefts(this.unheardSinceMs);
      if (!available) return;
      // Once every live pod is back in the store: each refreshes its entries within two
      // heartbeats, the time after which the store forgets a pod that did not.
      this.presenceCheck = setTimeout(() => {
        void this.tellWhatHolds().then((told) => {
          // Lost again, or closing, while the leaves were told: that look is not due any more.
          if (round !== this.presenceRound) return;
          // A heartbeat later, the look at what members were told: by then the leaves every pod
          // told at two heartbeats have reached them (told at the same moment, each pod's look
          // told its members the other pods' leaves a second time). What this pod told is not
          // corrected again whatever its frames' timing.
          this.presenceCheck = setTimeout(() => void this.correctToldPresence(told), this.config.heartbeatMs);
          this.presenceCheck.unref();
        });
      }, 2 * this.config.heartbeatMs);
      this.presenceCheck.unref();
      this.reportPresenceFailures();
      // Joins now; leaves with the look, once every live pod's entries are back (tellWhatHolds).
      void this.tellWhatHolds('joined');
    });
    presence.onExpired((room, user, users) =>
      // A user whose pod died left without saying so: tell the room as for any last leave.
      this.tellRoom(room, user, 'left', users + 1)?.catch((error: unknown) =>
        this.logger.warn({ message: 'Could not announce an expired presence', room, error: String(error) }),
      ),
    );
  }

  /**
   * Adds a connection to the hub and puts it in its personal room before `welcome` is sent. It
   * asks the hub itself rather than through `enter`: a personal room has no presence to record.
   * Returns undefined when the connection was admitted in this turn (ConnectionHub.enter), as
   * it is whenever the pod already receives the user's personal channel; throws or rejects
   * with a RoomError when it could not be admitted, having cleaned up.
   */
  admit(connection: Connection, onWelcome: () => void): Promise<void> | undefined {
    this.hub.add(connection);
    const room = personalRoom(connection.user);
    let entering;
    try {
      entering = this.hub.enter(connection, room, PERSONAL_ROOM_ENTRY, onWelcome);
      if (typeof entering === 'string') {
        this.admitted(connection, room, entering);
        return undefined;
      }
    } catch (error) {
      return this.notAdmitted(connection, error);
    }
    // As in this turn's way above: a connection that closed meanwhile is cleaned up and refused too.
    return entering.then((outcome) => this.admitted(connection, room, outcome)).catch((error: unknown) => this.notAdmitted(connection, error));
  }

  private admitted(connection: Connection, room: string, outcome: EnterOutcome): void {
    this.entered(connection, room, outcome);
    if (outcome === 'entered') this.recordPersonal(connection, room, 'joined');
    if (connection.state !== 'closing') this.tell({ kind: 'connected', user: connection.user, connectionId: connection.id });
  }

  private async notAdmitted(connection: Connection, error: unknown): Promise<never> {
    await this.disconnect(connection);
    throw asRoomError(error);
  }

  onModuleDestroy(): void {
    this.presenceRound++;
    clearTimeout(this.presenceCheck);
    this.cancelPartialOutageLook();
  }

  private cancelPartialOutageLook(): void {
    clearTimeout(this.partialOutageLook);
    this.partialOutageLook = undefined;
  }

  /** UntoldPresence.tellWhatHolds, its failure logged: what it told, none then. */
  private tellWhatHolds(only?: PresenceStatus): Promise<Set<string>> {
    return this.untold.tellWhatHolds(only).catch((error: unknown) => {
      this.logger.warn({ message: 'Could not announce presence changed during an outage', error: String(error) });
      return new Set<string>();
    });
  }

  /** The outage's presence failures are over: how many there were, when more than the one logged, and counting anew. */
  private reportPresenceFailures(): void {
    if (this.presenceFailures > 1) this.logger.warn({ message: 'Presence updates failed during the outage; what still holds is told now', failures: this.presenceFailures });
    this.presenceFailures = 0;
  }

  /**
   * A presence change failed while the broker as a whole stayed available: a Redis Cluster shard
   * is silent, and the broker turns neither unavailable nor available again for one shard, so
   * the look at the return (onAvailabilityChange) never comes, and what failed was kept for good.
   * Looks two heartbeats later (every live pod registers its entries again within that once the
   * shard answers), and again while some of it still cannot be read.
   */
  private lookAfterPartialOutage(): void {
    if (this.partialOutageLook || !this.broker.available) return;
    const round = this.presenceRound;
    const look = setTimeout(() => {
      void this.tellWhatHolds().then(() => {
        // Closing, or the broker was lost meanwhile: its return looks at what is left, and a
        // look scheduled since then is that round's, not this one's to forget.
        if (round !== this.presenceRound) return;
        if (this.partialOutageLook === look) this.partialOutageLook = undefined;
        if (!this.untold.empty) return this.lookAfterPartialOutage();
        this.reportPresenceFailures();
      });
    }, 2 * this.config.heartbeatMs);
    look.unref();
    this.partialOutageLook = look;
  }

  /**
   * After an outage, tells this pod's members `left` for each user they were told joined whom
   * the presence store no longer counts (ToldPresence), in rooms small enough for presence
   * events. Such a user left without anyone here hearing it: its pod told the room before this
   * pod had subscribed again, or its pod died while Redis lost the entries that would have
   * expired and been announced. Each pod corrects its own members only, so nobody hears it twice.
   * A room that cannot be read now is left as it is (the broker is down again, and the next
   * return looks again).
   */
  private async correctToldPresence(toldJustNow: ReadonlySet<string>): Promise<void> {
    const round = this.presenceRound;
    // Told `left` since the broker came back, and there all the same: a pod that resynced before
    // theirs found them gone (their entries had expired during the outage).
    const lefts = this.hub.toldPresence.lefts();
    // Told `joined`, and gone.
    const joins = this.hub.toldPresence.snapshot();
    for (const [status, rooms] of [['joined', lefts], ['left', joins]] as const) {
      for (const [room, users] of rooms) {
        const present = await presentAmong(this.presence, room, users);
        // Still watched: the look after the broker's next return tells what this one could not.
        if (!present) return;
        for (const user of users) {
          const usersIncludingThisOne = usersIfStillHolds(present, user, status);
          if (usersIncludingThisOne === undefined || toldJustNow.has(toldKey(room, user))) continue;
          const frame = this.presenceFrame(room, user, status, usersIncludingThisOne);
          // Too big a room for presence events: nothing to tell, and nothing to remember told.
          if (frame === undefined) this.hub.toldPresence.forgetUser(room, user);
          else this.hub.tellHere(room, user, frame);
        }
      }
    }
    // Still watching who is told `left` (the look above included, and any `left` heard while the
    // rooms are read below), so that nobody is told it twice.
    const toldAll = this.unheardSinceMs === undefined || (await this.tellUnheard(this.unheardSinceMs, toldJustNow));
    // Lost again meanwhile: that loss watches on, and what it missed is for the look after its return.
    if (round !== this.presenceRound) return;
    this.hub.toldPresence.unwatchLefts();
    if (toldAll) this.unheardSinceMs = undefined;
  }

  /**
   * Tells this pod's members what the store told their room since `sinceMs`, while this pod
   * could not hear the room's channel, and they were not told of since:
   * - `joined` for each user announced meanwhile (without it, a user who joined on another pod
   *   while this one was cut off from Redis stayed unknown here until the user left). The store
   *   says when each arrival was announced: a user present whom nobody here was told of may as
   *   well have been there before this pod's members joined, and telling those `joined` after
   *   every outage would announce a whole room again.
   * - `left` for each user who left meanwhile (the look above tells it only of users told
   *   `joined` here: one who was there before this pod's members joined was never announced to
   *   them, and its `left`, sent while this pod subscribed again, reached nobody here).
   * False when a room could not be read (the look after the broker's next return tells it).
   */
  private async tellUnheard(sinceMs: number, toldJustNow: ReadonlySet<string>): Promise<boolean> {
    for (const room of this.hub.sharedRoomsWithMembers()) {
      const unheard = await readUnheard(this.presence, room, sinceMs, this.announcement.maxUsers);
      if (!unheard) return false;
      for (const user of unheard.joinsToldSince) {
        if (this.hub.toldPresence.toldJoined(room, user) || toldJustNow.has(toldKey(room, user))) continue;
        const frame = this.presenceFrame(room, user, 'joined', unheard.users);
        if (frame !== undefined) this.hub.tellHere(room, user, frame);
      }
      for (const user of unheard.departedSince) {
        if (this.hub.toldPresence.toldLeft(room, user) || toldJustNow.has(toldKey(room, user))) continue;
        const frame = this.presenceFrame(room, user, 'left', unheard.users + 1);
        if (frame !== undefined) this.hub.tellHere(room, user, frame);
      }
    }
    return true;
  }

  /** The one listener told of every admission, close, join and leave on this pod (backend hooks). */
  onActivity(listener: RoomActivityListener): void {
    this.activityListener = listener;
  }

  /**
   * Authorizes and enters a join. Returns undefined when it was answered in this turn, else a
   * promise of its entry (a round trip: the join proxy, history, the room's subscription);
   * throws or rejects with a RoomError. Presence is recorded after, not waited for (afterEnter).
   */
  join(connection: Connection, room: string, since: string | undefined, onJoined: (joined: Joined) => void, onRevoked: (room: string) => void): Promise<void> | undefined {
    this.assertRoomName(room);
    const granted = mayJoin(connection.principal, room);
    if (!granted && !this.joinAuthorizer?.covers(room)) throw new RoomError('forbidden', `Not allowed to join ${room}`);
    this.assertMayEnter(connection, room);
    if (!granted) {
      // Admission to the room was decided when the connection entered it: joining it again
      // (to recover with `since`, say) changes nothing else, so the backend is not asked again,
      // and a member is not refused its replay while the backend is down.
      if (this.hub.isMember(connection, room)) return this.enter(connection, room, { since, readHistory: true }, onJoined);
      return this.joinAuthorized(connection, room, since, onJoined);
    }
    // A join that waited (history, subscription) may complete after a refresh to a token that no
    // longer grants the room: it is revoked then, as that refresh would have revoked it.
    return this.enter(connection, room, { since, readHistory: true }, onJoined, () => this.revokeIfUngranted(connection, room, onRevoked));
  }

  private revokeIfUngranted(connection: Connection, room: string, onRevoked: (room: string) => void): void {
    if (!mayJoin(connection.principal, room) && this.takeOut(connection, room)) onRevoked(room);
  }

  /** Takes the connection out of a room as a leave does (presence, hooks); false when it was not in it. */
  private takeOut(connection: Connection, room: string): boolean {
    if (!this.hub.leave(connection, room)) return false;
    // Not awaited: afterLeave reports its own failures.
    void this.afterLeave(connection, room);
    return true;
  }

  /** A join the token does not grant: the join proxy decides first. */
  private async joinAuthorized(connection: Connection, room: string, since: string | undefined, onJoined: (joined: Joined) => void): Promise<void> {
    await this.joinAuthorizer!.authorize(connection.principal, room);
    // The backend took a while: the client may have gone, or another join of this room started.
    if (connection.state === 'closing') return;
    this.assertMayEnter(connection, room);
    return this.enter(connection, room, { since, readHistory: true }, onJoined);
  }

  private assertMayEnter(connection: Connection, room: string): void {
    if (this.hub.isJoining(connection, room)) throw new RoomError('bad_request', `Already joining ${room}`);
    if (!this.hub.isMember(connection, room) && this.hub.roomCountOf(connection) >= this.config.maxRoomsPerConnection) {
      throw new RoomError('forbidden', `A connection may be in at most ${this.config.maxRoomsPerConnection} rooms`);
    }
  }

  async leave(connection: Connection, room: string): Promise<void> {
    this.assertRoomName(room);
    // A connection is in its personal room for its whole life (section 1): that room carries its
    // notifications, the `inbox` event and whether its user is online.
    if (room === personalRoom(connection.user)) throw new RoomError('forbidden', `A connection stays in its personal room ${room} until it closes`);
    // `left` answers at once, before presence and hooks are told.
    if (!this.takeOut(connection, room)) throw new RoomError('not_member', `Not a member of ${room}`);
  }

  /**
   * After a refresh (the connection holds its new token): takes the connection out of the rooms
   * its previous token granted and the new one does not, as a `leave` would (presence, hooks),
   * and returns them. A token's `rooms` claim is the whole of its user's room access, so a
   * narrower one takes effect at once, not at the next connection. Rooms the join proxy covers
   * stay: the proxy decides them at the next join.
   */
  revokeUngranted(connection: Connection, previous: Principal): string[] {
    const revoked = this.hub.roomsOf(connection).filter((room) => mayJoin(previous, room) && !mayJoin(connection.principal, room) && !this.joinAuthorizer?.covers(room));
    for (const room of revoked) this.takeOut(connection, room);
    return revoked;
  }

  async sendMessage(connection: Connection, room: string, text: string): Promise<string> {
    this.assertRoomName(room);
    if (!mayChatIn(room)) throw new RoomError('forbidden', `Only the publish API writes to ${PERSONAL_ROOM_PREFIX}* rooms`);
    if (!this.hub.isMember(connection, room)) throw new RoomError('not_member', `Join ${room} before sending to it`);
    const { user, name } = connection.principal;
    const body: Omit<ChatMessage, 'seq'> = { room, user, ...(name ? { name } : {}), text, timestamp: new Date().toISOString() };
    const result = await this.broker.publish(room, 'message', body);
    if (result.duplicate) throw new RoomError('internal', 'Message was reported as a duplicate');
    return result.seq;
  }

  /** Cleans up everywhere after any kind of close. Safe to call more than once. */
  disconnect(connection: Connection): Promise<void> {
    const departure = this.depart(connection);
    this.departures.add(departure);
    const forget = () => this.departures.delete(departure);
    departure.then(forget, forget);
    return departure;
  }

  /**
   * Resolves once every connection closed so far is cleaned up everywhere, its presence told
   * included (a failure counts as done: announce keeps what it could not tell). A drain waits
   * for it: the broker closes right after, and a `left` not yet told would never be.
   */
  async departed(): Promise<void> {
    await Promise.allSettled([...this.departures]);
  }

  private async depart(connection: Connection): Promise<void> {
    connection.socketClosed();
    const rooms = this.hub.remove(connection);
    // Its rooms' `left` first (each told as afterLeave is called), then the connection's end: as a
    // connection is admitted before it joins, a webhook receiver hears `room.vacated` before
    // `user.offline`, the mirror of `user.online` before `room.occupied`.
    const leaving = rooms.map((room) => this.afterLeave(connection, room));
    this.tell({ kind: 'disconnected', user: connection.user, connectionId: connection.id });
    await Promise.all(leaving);
  }

  /** `afterWait` runs once a join that waited has entered, after what the join told. */
  private enter(connection: Connection, room: string, options: EnterOptions, onJoined: (joined: Joined) => void, afterWait?: () => void): Promise<void> | undefined {
    let entering;
    try {
      entering = this.hub.enter(connection, room, options, onJoined);
    } catch (error) {
      throw asRoomError(error);
    }
    if (typeof entering === 'string') {
      this.afterEnter(connection, room, entering);
      return undefined;
    }
    return entering.then(
      (outcome) => {
        this.afterEnter(connection, room, outcome);
        afterWait?.();
      },
      (error: unknown) => {
        throw asRoomError(error);
      },
    );
  }

  /**
   * Records the join's presence without waiting for it, as a leave's is (takeOut): the join is
   * done once the hub entered it. The presence store keeps each room's changes in the order this
   * pod made them (one queue per room, sent in order), so a `leave` or `message` the client sends
   * right after `joined` needs not wait for the store's round trip, and a connection holds no
   * chain of frames (FrameDispatcher.inOrder) for as long as a crowded room's batch window.
   */
  private afterEnter(connection: Connection, room: string, outcome: EnterOutcome): void {
    this.entered(connection, room, outcome);
    // A personal room is entered at admission (admit), never here. announce never rejects.
    if (outcome === 'entered' && tellsPresence(room)) void this.announce(connection, room, 'joined');
  }

  /** After the hub's `enter`: the join is told about, or refused when the connection closed meanwhile. */
  private entered(connection: Connection, room: string, outcome: EnterOutcome): void {
    if (outcome === 'connection_closed') throw new RoomError('internal', 'Connection closed while joining');
    // After the reply: the join has happened whatever presence does next.
    if (outcome === 'entered') this.tell({ kind: 'joined', room, connectionId: connection.id });
  }

  /** After the hub took the connection out of the room; undefined when there is nothing to wait for. */
  private afterLeave(connection: Connection, room: string): Promise<void> | undefined {
    this.tell({ kind: 'left', room, connectionId: connection.id });
    if (tellsPresence(room)) return this.announce(connection, room, 'left');
    this.recordPersonal(connection, room, 'left');
    return undefined;
  }

  /**
   * Records a connection entering or leaving its personal room, for the presence API (section 6
   * counts every room), telling nobody: its only member is its own user, who is never told of
   * themselves. Not waited for: the store sends these with its batch window, and an unreachable
   * store writes this pod's counts again when it returns.
   */
  private recordPersonal(connection: Connection, room: string, status: PresenceStatus): void {
    if (status === 'joined') this.presence.enterPersonal(room, connection.user, connection.id);
    else this.presence.leavePersonal(room, connection.user, connection.id);
  }

  /**
   * Records presence and, in small rooms, tells the other users (section 2, presence rule).
   * Never rejects: the join or leave itself is done and answered. An unreachable store
   * re-registers this pod's presence when it returns (Redis) and forgets a dead pod's entries on
   * expiry; what the other users were not told is told then, if it still holds (UntoldPresence).
   */
  private announce(connection: Connection, room: string, status: PresenceStatus): Promise<void> {
    // The store tells the room in the step of the change (PresenceAnnouncement), so the room
    // hears its changes in the order the store made them, whichever pods made them.
    const changing =
      status === 'joined' ? this.presence.add(room, connection.user, connection.id, this.announcement) : this.presence.remove(room, connection.user, connection.id, this.announcement);
    // One promise per join or leave, not two (`then` and `catch`).
    return changing.then(IGNORED, (error: unknown) => {
      // Once per outage: every join and leave fails while the store is unreachable.
      if (this.presenceFailures++ === 0) this.logger.warn({ message: 'Presence update failed; later failures are counted until the broker is back', room, status, connectionId: connection.id, error: String(error) });
      this.untold.remember(room, connection.user, status);
      this.lookAfterPartialOutage();
    });
  }

  /**
   * Tells a small room's other users; undefined, at once, in a room too big for presence events
   * (most joins of a big room), so those joins pay no async call and promise for nothing.
   */
  private tellRoom(room: string, user: string, status: PresenceStatus, usersIncludingThisOne: number): Promise<void> | undefined {
    const frame = this.presenceFrame(room, user, status, usersIncludingThisOne);
    return frame === undefined ? undefined : this.broker.broadcast(room, frame, user);
  }

  /** The presence frame about `user`, or undefined in a room too big for presence events (section 2's rule). */
  private presenceFrame(room: string, user: string, status: PresenceStatus, usersIncludingThisOne: number): string | undefined {
    return announcedFrame(this.announcement, room, user, status, usersIncludingThisOne);
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

/** The broker's unavailability as the contract's `unavailable`, in words for clients; any other error as it is. */
function asRoomError(error: unknown): unknown {
  return error instanceof BrokerUnavailableError ? new RoomError('unavailable', BROKER_UNAVAILABLE_FOR_CLIENTS) : error;
}

/** What a recorded presence change resolves the announcement with: nothing (see announce). */
const IGNORED = (): void => undefined;

/** Every admission enters the user's personal room, with no history to read (welcome carries no seq). */
const PERSONAL_ROOM_ENTRY: EnterOptions = { readHistory: false };

/**
 * Presence is announced in every room but personal rooms: their only members are the user's own
 * connections, who are never told of themselves. Those are recorded without waiting
 * (recordPersonal), so the admission and close of a connection that is in no other room wait
 * for nothing.
 */
function tellsPresence(room: string): boolean {
  return !isPersonalRoom(room);
}
