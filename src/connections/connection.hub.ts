import { Injectable } from '@nestjs/common';
import { Joined, PERSONAL_ROOM_PREFIX, isPersonalRoom, personalRoom } from '@herald/client/protocol';
import type { WebSocket } from 'ws';
import { Broker, Delivery, HistoryResult, Publication } from '../broker/broker';
import { RefCountedSubscriptions } from '../broker/ref-counted-subscriptions';
import { formatSeq, parseSeq } from '../broker/seq';
import { MetricsService } from '../metrics/metrics.service';
import type { Principal } from '../auth/principal';
import { Connection, CONNECTION_OF_SOCKET, SocketOfConnection } from './connection';
import { ExpirySchedule } from './expiry-schedule';
import { ToldPresence } from './told-presence';
import { PreparedFrame } from './prepared-frame';
import { ReplayFrames } from './replay-frames';
import { deliveryFrame } from './server-frame';
import { RoomList } from './room-list';
import { corkForThisTurn, sendBroadcast } from './turn-cork';
import { streamOf } from './ws.internals';

/** How `enter` ended: a new member, one already in the room, or a connection that closed meanwhile. */
export type EnterOutcome = 'entered' | 'already_member' | 'connection_closed';

export interface EnterOptions {
  /** The client's `since`: replay what followed it when history still reaches back that far. */
  since?: string;
  /** False for the personal room at admission: welcome carries no seq to anchor a replay to. */
  readHistory: boolean;
}

const NO_HISTORY: HistoryResult = Object.freeze({ latestSeq: null, recovered: false, publications: [] });
/** What a join done in one turn had buffered: nothing (one shared empty list, never written to). */
const NOTHING_BUFFERED: readonly BufferedFrame[] = Object.freeze([]);

/** A delivery that reached a join still reading history: its frame, built once in `deliver`. */
interface BufferedFrame {
  /** Set for publications: the hand-over drops what history already replayed. */
  seq: string | undefined;
  frame: PreparedFrame;
}

/**
 * This pod's connections and who is in which room (centrifuge's "hub"), and the one delivery
 * path: every delivery the broker hands this pod, its own publications included, is turned
 * into its client frame here, once, and fanned out to the room's local members, one
 * PreparedFrame for all of them.
 *
 * The hub alone owns membership: the rooms of each connection, the members of each room, the
 * joins still reading history and their buffers, and the pod's broker subscriptions (subscribed
 * while a room has a member or a join under way). Who may join what is decided before `enter`
 * is called (RoomsService).
 */
@Injectable()
export class ConnectionHub {
  /** Every connection of this pod, with the rooms it is a live member of (its personal room included). */
  private readonly roomsByConnection = new Map<Connection, RoomList>();
  private readonly membersByRoom = new Map<string, Members>();
  /**
   * Per room, members whose join replayed publications this pod's feed had not delivered yet
   * (HistoryResult.aheadOfFeed: a failover, the room's subscription not moved yet), with the
   * join's last seq: the feed delivers those publications later, and they are not sent to that
   * member again (nor a deposed primary's late write of the life the join left behind). Gone
   * once the feed reaches the last one replayed (or the room goes on in a later life first: see
   * replayedAlready), a `recovery` begins afresh, or the member leaves.
   */
  private readonly replayedAhead = new Map<string, Map<Connection, string>>();
  /** Connections between "subscribed" and "history sent": their live frames wait here. */
  private readonly joiningByRoom = new Map<string, Map<Connection, BufferedFrame[]>>();
  /**
   * The rooms of joiningByRoom each connection has a buffer in, for connections that have one:
   * remove() visits those, not every room with a join under way (quadratic when a storm of
   * admissions waits on Redis and its clients give up).
   */
  private readonly bufferedRoomsByConnection = new Map<Connection, string[]>();
  private readonly subscriptions: RefCountedSubscriptions;
  /** When each connection's token expires (HeartbeatService closes them on time). */
  private readonly expiries = new ExpirySchedule();
  /** History's frames, built once per turn for every join that replays them. */
  private readonly replayFrames = new ReplayFrames();
  /** Who this pod's members of each room were told is there (presence frames delivered here). */
  readonly toldPresence = new ToldPresence();

  constructor(
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
  ) {
    this.subscriptions = new RefCountedSubscriptions(broker);
    broker.onDelivery((delivery) => this.deliver(delivery));
    // Read when scraped rather than set on every connect, leave and join.
    metrics.onScrape(() => {
      metrics.connections.set(this.size);
      metrics.rooms.set(this.membersByRoom.size);
    });
  }

  get size(): number {
    return this.roomsByConnection.size;
  }

  all(): IterableIterator<Connection> {
    return this.roomsByConnection.keys();
  }

  /**
   * The connection of a socket, for the shared socket handlers: held by the socket itself
   * (CONNECTION_OF_SOCKET) from add to remove. Neither a Map (an entry per connection) nor a
   * WeakMap (its entries are ephemerons, which every garbage collection processes apart: about
   * 1% of a pod's CPU during a burst of connects, in a perf profile of the admission step).
   */
  connectionFor(socket: WebSocket): Connection | undefined {
    return (socket as SocketOfConnection)[CONNECTION_OF_SOCKET];
  }

  add(connection: Connection): void {
    this.roomsByConnection.set(connection, new RoomList());
    (connection.socket as SocketOfConnection)[CONNECTION_OF_SOCKET] = connection;
    this.expiries.file(connection);
  }

  /** Forgets a connection everywhere; returns the rooms it was a member of. Safe to call twice. */
  remove(connection: Connection): string[] {
    const rooms = this.roomsByConnection.get(connection);
    this.roomsByConnection.delete(connection);
    (connection.socket as SocketOfConnection)[CONNECTION_OF_SOCKET] = undefined;
    this.expiries.unfile(connection);
    const buffered = this.bufferedRoomsByConnection.get(connection);
    if (buffered) for (const room of [...buffered]) this.takeBuffer(connection, room);
    const left = rooms ? [...rooms] : [];
    for (const room of left) this.dropMember(connection, room);
    return left;
  }

  /** A refreshed token: the connection now expires, if ever, when the new one does. */
  swapPrincipal(connection: Connection, principal: Principal): void {
    const filed = this.roomsByConnection.has(connection);
    if (filed) this.expiries.unfile(connection);
    connection.principal = principal;
    if (filed) this.expiries.file(connection);
  }

  /** Closes with 4001 the connections whose token has expired by `nowMs`. */
  closeExpired(nowMs: number): void {
    this.expiries.closeExpired(nowMs);
  }

  /** The rooms the connection is a live member of. */
  roomsOf(connection: Connection): string[] {
    const rooms = this.roomsByConnection.get(connection);
    return rooms ? [...rooms] : [];
  }

  /**
   * The rooms the connection is in or joining: what MAX_ROOMS_PER_CONNECTION bounds. Joins still
   * reading history count, or a burst of joins sent together would all pass the limit.
   */
  roomCountOf(connection: Connection): number {
    const rooms = this.roomsByConnection.get(connection);
    return rooms ? rooms.size + rooms.joining : 0;
  }

  isMember(connection: Connection, room: string): boolean {
    return this.roomsByConnection.get(connection)?.has(room) ?? false;
  }

  /** The user's connections on this pod, those still being admitted included (MAX_CONNECTIONS_PER_USER). */
  connectionCountOf(user: string): number {
    const room = personalRoom(user);
    return countOf(this.membersByRoom.get(room)) + (this.joiningByRoom.get(room)?.size ?? 0);
  }

  isJoining(connection: Connection, room: string): boolean {
    return this.joiningByRoom.get(room)?.has(connection) ?? false;
  }

  /**
   * Puts a connection in a room without losing or repeating a message: subscribe, then read
   * history, then hand over to live delivery. When the broker can do both in this turn
   * (Broker.subscribeNow, Broker.historyNow: a room this pod follows, a personal room on a
   * channel it holds) the whole join happens now and its outcome is returned, not a promise:
   * nothing can be delivered in between. Otherwise live frames that arrive meanwhile wait in a
   * per-join buffer; at the hand-over `onJoined` (the reply) and then the replay are sent
   * synchronously, so nothing live can slip in before them. A member joining again gets the
   * reply and replay only; while its history is read, its live frames wait too (the personal
   * room, a member from admission, is rejoined with `since` on every reconnect): section 4's
   * replay comes before any newer message. Throws, or rejects, with the broker's error, having
   * undone the subscription (a waiting member then gets its frames live).
   */
  enter(connection: Connection, room: string, options: EnterOptions, onJoined: (joined: Joined) => void): EnterOutcome | Promise<EnterOutcome> {
    const alreadyMember = this.isMember(connection, room);
    const subscribed = alreadyMember || this.subscriptions.acquireNow(room);
    if (subscribed) {
      const history = options.readHistory ? this.broker.historyNow(room, options.since) : NO_HISTORY;
      if (history) return this.handOver(connection, room, options.since, history, alreadyMember, onJoined);
    }
    return this.enterLater(connection, room, options, onJoined, alreadyMember, subscribed);
  }

  /** `enter` when the broker needs a round trip: to subscribe (unless `subscribed`), or to read history. */
  private async enterLater(connection: Connection, room: string, { since, readHistory }: EnterOptions, onJoined: (joined: Joined) => void, alreadyMember: boolean, subscribed: boolean): Promise<EnterOutcome> {
    // A member that reads history stops getting live frames until its replay is sent.
    const held = alreadyMember && readHistory;
    if (!alreadyMember) this.beginJoin(connection, room);
    else if (held) this.holdMember(connection, room);
    let history = NO_HISTORY;
    try {
      if (!subscribed) await this.subscriptions.acquire(room);
      // Subscribed first, then history: anything published in between is in both, and the
      // buffer drops what history already covered (handOver).
      if (readHistory) history = await this.broker.history(room, since);
    } catch (error) {
      if (!alreadyMember) this.abandonJoin(connection, room);
      else if (held) this.releaseMember(connection, room);
      throw error;
    }
    return this.handOver(connection, room, since, history, alreadyMember, onJoined, held);
  }

  /**
   * The end of `enter`, synchronous from membership to the last replayed frame. Kept out of the
   * async function: an async function's every local is stored with it at each `await`. A join
   * done in one turn has no buffer (endJoin finds none).
   */
  private handOver(connection: Connection, room: string, since: string | undefined, history: HistoryResult, alreadyMember: boolean, onJoined: (joined: Joined) => void, held = false): EnterOutcome {
    let admitted = alreadyMember && !held;
    try {
      const joined: Joined = { room, seq: history.latestSeq };
      let lastSeq = history.latestSeq;
      if (since !== undefined) {
        joined.recovered = history.recovered;
        if (history.recovered) {
          joined.missed = history.publications.length;
          if (history.publications.length > 0) lastSeq = history.publications[history.publications.length - 1].seq;
        }
        this.metrics.historyReplays.inc({ outcome: history.recovered ? 'recovered' : 'not_recovered' });
      }
      let buffered = NOTHING_BUFFERED;
      if (!alreadyMember) {
        const rooms = this.roomsByConnection.get(connection);
        if (connection.state === 'closing' || !rooms) {
          this.abandonJoin(connection, room);
          return 'connection_closed';
        }
        buffered = this.endJoin(connection, room);
        rooms.add(room);
        addTo(this.membersByRoom, room, connection);
        admitted = true;
      } else if (held) {
        buffered = this.takeBuffer(connection, room);
        // Closed, or out of the room, meanwhile: remove() has cleaned up already.
        if (connection.state === 'closing' || !this.isMember(connection, room)) return 'connection_closed';
        addTo(this.membersByRoom, room, connection);
        admitted = true;
      }
      if (history.aheadOfFeed && lastSeq !== null) setIn(this.replayedAhead, room, connection, lastSeq);
      // Framed once the connection is known to stay (a closed one returned above).
      const replay: PreparedFrame[] = [];
      if (joined.recovered === true) for (const publication of history.publications) replay.push(this.replayFrames.of(publication));
      for (const { seq, frame } of buffered) {
        if (seq !== undefined && lastSeq !== null && seq <= lastSeq) continue;
        replay.push(frame);
      }
      // The reply and its replay leave in one write call at the end of this turn: ws writes each
      // frame with a call of its own, and a rejoin after a drain replays a dozen or more.
      if (replay.length > 0) corkForThisTurn(streamOf(connection.socket));
      onJoined(joined);
      connection.sendReplay(replay);
    } catch (error) {
      if (!alreadyMember) this.abandonJoin(connection, room);
      else if (!admitted) this.releaseMember(connection, room);
      throw error;
    }
    return alreadyMember ? 'already_member' : 'entered';
  }

  /** Takes a connection out of a room; false when it was not a member. */
  leave(connection: Connection, room: string): boolean {
    if (!this.roomsByConnection.get(connection)?.delete(room)) return false;
    this.dropMember(connection, room);
    return true;
  }

  stats(): { connections: number; rooms: number; joining: number; buffering: number; replayedAhead: number; users: number; subscriptions: number; expiring: number } {
    return {
      connections: this.roomsByConnection.size,
      rooms: this.membersByRoom.size,
      joining: this.joiningByRoom.size,
      buffering: this.bufferedRoomsByConnection.size,
      replayedAhead: this.replayedAhead.size,
      // Every connection is in its own user's personal room, so that room's entry is the user's.
      users: countKeys(this.membersByRoom, PERSONAL_ROOM_PREFIX),
      subscriptions: this.subscriptions.size,
      expiring: this.expiries.size,
    };
  }

  /** The rooms with members on this pod but personal ones (a copy: safe across awaits). */
  sharedRoomsWithMembers(): string[] {
    const rooms: string[] = [];
    for (const room of this.membersByRoom.keys()) if (!isPersonalRoom(room)) rooms.push(room);
    return rooms;
  }

  /**
   * Delivers a presence frame about `user` to the room's members on this pod only: a pod's own
   * correction of what its members were told (RoomsService), which every other pod makes for
   * its own members.
   */
  tellHere(room: string, user: string, frame: string): void {
    this.deliver({ kind: 'broadcast', room, frame, excludeUser: user });
  }

  /**
   * The one delivery path to sockets: turns a delivery into its client frame (deliveryFrame)
   * and fans it out to the room's local members and to the buffers of joins under way. The
   * frame is built once per pod, and the same WebSocket bytes go to every socket.
   */
  private deliver(delivery: Delivery): void {
    const joining = this.joiningByRoom.get(delivery.room);
    const members = this.membersByRoom.get(delivery.room);
    if (!joining && !members) return;
    const frame = deliveryFrame(delivery);
    const excluded = delivery.kind === 'broadcast' ? delivery.excludeUser : undefined;
    // A broadcast about a user is a presence frame (Broadcast.excludeUser). Recorded for rooms with
    // live members only: a room's record goes with its last member (dropMember), and a join that
    // is abandoned never makes one.
    if (excluded !== undefined && members) this.toldPresence.record(delivery.room, excluded, frame);
    // After a `recovery` the members start afresh: nothing of what came before is held back.
    if (delivery.kind === 'gap') this.replayedAhead.delete(delivery.room);
    const ahead = delivery.kind === 'publication' && this.replayedAhead.size > 0 ? this.replayedAhead.get(delivery.room) : undefined;
    // Built once for every member replayedAlready tells to recover first, if any is.
    let recovery: PreparedFrame | undefined;
    const recoveryFrame = ahead && ((): PreparedFrame => (recovery ??= recoveryBefore(delivery as Publication)));
    const prepared = new PreparedFrame(frame);
    if (joining) {
      const seq = delivery.kind === 'publication' ? delivery.seq : undefined;
      for (const [connection, buffer] of joining) if (connection.user !== excluded) buffer.push({ seq, frame: prepared });
    }
    if (!members) return;
    let sent = 0;
    sendBroadcast(() => {
      if (!(members instanceof Set)) {
        if ((excluded === undefined || members.user !== excluded) && !(ahead && this.replayedAlready(ahead, delivery as Publication, members, recoveryFrame!)) && members.send(prepared)) sent = 1;
        return;
      }
      for (const connection of members) {
        if (excluded !== undefined && connection.user === excluded) continue;
        if (ahead && this.replayedAlready(ahead, delivery as Publication, connection, recoveryFrame!)) continue;
        if (connection.send(prepared)) sent++;
      }
    });
    if (sent === 0) return;
    this.metrics.deliveries.inc(sent);
    if (delivery.kind === 'publication') this.metrics.publishToSend.observe((Date.now() - delivery.publishedAtMs) / 1000);
  }

  private beginJoin(connection: Connection, room: string): void {
    this.startBuffer(connection, room);
    const rooms = this.roomsByConnection.get(connection);
    if (rooms) rooms.joining += 1;
  }

  /** Ends buffering; returns what arrived meanwhile. */
  private endJoin(connection: Connection, room: string): readonly BufferedFrame[] {
    const hadBuffer = this.joiningByRoom.get(room)?.has(connection) ?? false;
    const buffered = this.takeBuffer(connection, room);
    const rooms = this.roomsByConnection.get(connection);
    if (hadBuffer && rooms) rooms.joining -= 1;
    return buffered;
  }

  /**
   * A member's live frames for `room` wait in a join buffer (not counted as a join under way:
   * the room is one of its rooms already); it stays a member for roomsOf and isMember, and
   * stats() does not count it in the room meanwhile.
   */
  private holdMember(connection: Connection, room: string): void {
    removeFrom(this.membersByRoom, room, connection);
    this.startBuffer(connection, room);
  }

  /** A held member's join failed: it is live again, and gets what waited, in order. */
  private releaseMember(connection: Connection, room: string): void {
    const buffered = this.takeBuffer(connection, room);
    if (connection.state === 'closing' || !this.isMember(connection, room)) return;
    addTo(this.membersByRoom, room, connection);
    connection.sendReplay(buffered.map(({ frame }) => frame));
  }

  /** From now on `deliver` puts the room's frames for `connection` in a buffer. */
  private startBuffer(connection: Connection, room: string): void {
    let joining = this.joiningByRoom.get(room);
    if (!joining) this.joiningByRoom.set(room, (joining = new Map()));
    const buffering = joining.has(connection);
    joining.set(connection, []);
    if (buffering) return;
    const buffered = this.bufferedRoomsByConnection.get(connection);
    if (buffered) buffered.push(room);
    else this.bufferedRoomsByConnection.set(connection, [room]);
  }

  /** Ends `connection`'s buffer for the room (if any is left: remove() drops them); returns it. */
  private takeBuffer(connection: Connection, room: string): readonly BufferedFrame[] {
    const joining = this.joiningByRoom.get(room);
    const buffered = joining?.get(connection);
    if (buffered === undefined) return NOTHING_BUFFERED;
    joining!.delete(connection);
    if (joining!.size === 0) this.joiningByRoom.delete(room);
    const rooms = this.bufferedRoomsByConnection.get(connection)!;
    if (rooms.length === 1) this.bufferedRoomsByConnection.delete(connection);
    else rooms.splice(rooms.indexOf(room), 1);
    return buffered;
  }

  private abandonJoin(connection: Connection, room: string): void {
    this.endJoin(connection, room);
    this.subscriptions.release(room);
  }

  /**
   * Whether `connection`'s join replayed this publication already, or passed it (replayedAhead);
   * once the feed reaches the last one replayed, the member gets everything again. A publication
   * of a later history life while the feed never reached it: the feed crossed into that life from
   * further back (a failover's promoted server took over before there), so the member holds
   * publications the room's later life does not, whose retries it may carry again (a deposed
   * primary answered the join's read). The member is told to recover first, as a gap tells all.
   */
  private replayedAlready(ahead: Map<Connection, string>, delivery: Publication, connection: Connection, recovery: () => PreparedFrame): boolean {
    const lastReplayed = ahead.get(connection);
    if (lastReplayed === undefined) return false;
    // Seqs of one room sort as strings, across lives too (seq.ts).
    if (delivery.seq < lastReplayed) return true;
    deleteFrom(this.replayedAhead, delivery.room, connection);
    if (delivery.seq === lastReplayed) return true;
    if (parseSeq(delivery.seq)!.epoch !== parseSeq(lastReplayed)?.epoch) connection.send(recovery());
    return false;
  }

  private dropMember(connection: Connection, room: string): void {
    if (this.replayedAhead.size > 0) deleteFrom(this.replayedAhead, room, connection);
    removeFrom(this.membersByRoom, room, connection);
    if (!this.membersByRoom.has(room)) this.toldPresence.forget(room);
    this.subscriptions.release(room);
  }
}

/** The `recovery` a member gets right before `publication`: its room's seq is the position before it. */
function recoveryBefore(publication: Publication): PreparedFrame {
  const { epoch, position } = parseSeq(publication.seq)!;
  return new PreparedFrame(deliveryFrame({ kind: 'gap', room: publication.room, latestSeq: formatSeq(epoch, position - 1) }));
}

function setIn<K, V>(index: Map<string, Map<K, V>>, key: string, inner: K, value: V): void {
  let entries = index.get(key);
  if (!entries) index.set(key, (entries = new Map()));
  entries.set(inner, value);
}

function deleteFrom<K>(index: Map<string, Map<K, unknown>>, key: string, inner: K): void {
  const entries = index.get(key);
  if (entries?.delete(inner) && entries.size === 0) index.delete(key);
}

function countKeys(index: Map<string, unknown>, prefix: string): number {
  let count = 0;
  for (const key of index.keys()) if (key.startsWith(prefix)) count++;
  return count;
}

/**
 * One connection, or a Set of several. Most users have one connection and every personal room
 * has one member, and a Set costs ~180 bytes: at 20k idle connections that is megabytes.
 */
type Members = Connection | Set<Connection>;

function countOf(members: Members | undefined): number {
  return members === undefined ? 0 : members instanceof Set ? members.size : 1;
}

function addTo(index: Map<string, Members>, key: string, connection: Connection): void {
  const members = index.get(key);
  if (members === undefined) index.set(key, connection);
  else if (members instanceof Set) members.add(connection);
  else if (members !== connection) index.set(key, new Set([members, connection]));
}

function removeFrom(index: Map<string, Members>, key: string, connection: Connection): void {
  const members = index.get(key);
  if (members === connection) index.delete(key);
  else if (members instanceof Set && members.delete(connection) && members.size === 1) index.set(key, members.values().next().value!);
}
