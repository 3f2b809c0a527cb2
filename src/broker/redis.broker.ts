import { Logger } from '@nestjs/common';
import { ErrorReply, createClient } from 'redis';
import {
  Broker,
  BrokerStats,
  BrokerUnavailableError,
  Delivery,
  DeliveryListener,
  HistoryResult,
  InboxOptions,
  InboxReadResult,
  inboxPage,
  inboxReadResult,
  inboxUserOf,
  PresenceChange,
  PresenceExpiredListener,
  PresenceSnapshot,
  PublishIdClaim,
  PublishOptions,
  PublishResult,
  PublishedEvent,
} from './broker';
import { DeadlineExpiredError, withDeadline } from './deadline';
import { RedisDeadline } from './redis-deadline';
import { RedisKeys } from './redis-keys';
import { ExpiredPresence, InboxKeys, PresenceKeys, REDIS_SCRIPTS, RoomKeys, parseInboxEntry } from './redis.scripts';
import { InboxItem, InboxPage } from '@herald/client/protocol';
import { ParsedSeq, canRecover, formatSeq, newEpochSuffix, parseSeq, publicationFrame, recoveryFrame } from './seq';

export interface RedisBrokerOptions extends InboxOptions {
  /** redis:// or rediss:// URL, credentials included. */
  url: string;
  /** REDIS_PREFIX: namespaces every key and channel. */
  prefix: string;
  historySize: number;
  historyTtlS: number;
  /** A presence entry not refreshed for this long belongs to a dead pod and is forgotten. */
  presenceTtlMs: number;
  /** How often this pod refreshes its own presence entries; well under presenceTtlMs. */
  presenceRefreshMs: number;
  /**
   * REDIS_COMMAND_TIMEOUT_MS: a connection attempt taking longer fails, and so does every call
   * waiting on a connection that has answered nothing for this long (BrokerUnavailableError);
   * Redis then counts as down until a PING is answered in time.
   */
  commandTimeoutMs?: number;
  /** How often both connections are PINGed (default: half the command timeout). */
  healthCheckMs?: number;
  /** Reconnect backoff: doubles from the minimum up to the maximum, with jitter. */
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Connection attempts at start-up before connect() gives up with a clear error. */
  startupAttempts?: number;
}

const DEFAULTS = {
  commandTimeoutMs: 2000,
  reconnectMinDelayMs: 50,
  reconnectMaxDelayMs: 2000,
  startupAttempts: 5,
};


/** SUBSCRIBE arguments per command when resubscribing many rooms at once. */
const RESUBSCRIBE_BATCH = 500;

/**
 * Presence entries per refresh script. A room's entries are refreshed in slices so that Redis,
 * which runs one script at a time, serves the publishes queued meanwhile between slices instead
 * of after all of a big room's entries (a latency spike every refresh otherwise).
 */
const PRESENCE_REFRESH_SLICE = 500;

/** Redis replies that mean "not now" rather than "your command is wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

function createRedisClient(url: string, options: { connectTimeoutMs: number; reconnectStrategy: (retries: number, cause: Error) => number | Error }) {
  return createClient({
    url,
    scripts: REDIS_SCRIPTS,
    // Fail at once while disconnected instead of queueing: the edges answer `unavailable` / 503.
    disableOfflineQueue: true,
    // No per-command timer (node-redis arms an AbortSignal.timeout per command): every call is
    // bounded by its connection's RedisDeadline instead (see `bounded`).
    commandOptions: { timeout: 0 },
    socket: { connectTimeout: options.connectTimeoutMs, reconnectStrategy: options.reconnectStrategy },
  });
}
type RedisClient = ReturnType<typeof createRedisClient>;

/** This pod's view of one subscribed room. */
interface RoomFeed {
  /** The last publication delivered here: drops repeats, and is where catch-up starts. */
  last: ParsedSeq | undefined;
  /**
   * The room's latest position when this pod subscribed (epoch null: the room had no history):
   * where catch-up starts if nothing was delivered since.
   */
  anchor: { epoch: string | null; position: number } | undefined;
  /** Set while catching up after a reconnect: live publications wait here, with their position. */
  pending: Array<[Delivery, ParsedSeq]> | undefined;
}

/**
 * The broker for any number of pods, on Redis (node-redis): one command connection and one
 * subscriber connection per pod.
 *
 * - Publish is one Lua script: de-duplication, XADD (MAXLEN ~ HISTORY_SIZE) with the position as
 *   entry id, EXPIRE, and PUBLISH of the payload that every pod turns into a frame once. The
 *   room's epoch and position live in Redis, so all pods agree on `seq`; a Redis that lost its
 *   data starts a new epoch.
 * - History reads enforce exactly HISTORY_SIZE and HISTORY_TTL_S, whatever XADD ~ kept.
 * - The subscriber follows this pod's rooms (subscribed on 0 -> 1, unsubscribed on 1 -> 0).
 *   After any reconnect a fresh subscriber is built from the local room list, rather than
 *   trusting the client library to restore its own pub/sub state, and every room catches up
 *   from the last seq it delivered.
 * - Presence entries expire unless refreshed; this pod refreshes its own on a timer and
 *   re-registers them all after a reconnect. Whichever script finds a dead pod's entries
 *   expired reports their users once, through onPresenceExpired.
 * - Every call has a deadline (commandTimeoutMs), and a PING on both connections notices a
 *   Redis that went silent without closing them: a late PING marks the broker unavailable;
 *   once a PING is answered in time again the pod resyncs as after a reconnect.
 */
export class RedisBroker extends Broker {
  private readonly logger = new Logger(RedisBroker.name);
  private readonly settings: Required<RedisBrokerOptions>;
  private readonly keys: RedisKeys;
  private readonly command: RedisClient;
  private subscriber: RedisClient | undefined;
  private listener: DeliveryListener = () => undefined;
  private presenceExpiredListener: PresenceExpiredListener = () => undefined;
  private readonly availabilityListeners: ((available: boolean) => void)[] = [];
  private isAvailable = false;
  private everConnected = false;
  private closed = false;
  private connecting: Promise<void> | undefined;
  private readonly rooms = new Map<string, RoomFeed>();
  /** This pod's presence entries: room -> connection id -> user. */
  private readonly localPresence = new Map<string, Map<string, string>>();
  private resyncChain: Promise<void> = Promise.resolve();
  private resyncQueued = false;
  private resyncFailures = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  /** Set when a call or PING missed its deadline; cleared by a PING answered in time. */
  private silent = false;
  /** A PING is in flight on the connection: never more than one, so a frozen Redis collects none. */
  private readonly pinging = { command: false, subscriber: false };
  private downSinceMs: number | undefined;
  private readonly onChannelMessage = (message: string, channel: string) => this.receive(message, channel);
  /** One per connection: when Redis counts as too slow on it (see `bounded`). */
  private readonly deadlines: Record<'command' | 'subscriber', RedisDeadline>;
  /** history() reads waiting to be sent, by room and since: see history(). */
  private readonly pendingHistoryReads = new Map<string, Promise<HistoryResult>>();

  constructor(options: RedisBrokerOptions) {
    super();
    this.settings = { ...DEFAULTS, healthCheckMs: Math.max(50, Math.floor((options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs) / 2)), ...options };
    this.keys = new RedisKeys(options.prefix);
    this.deadlines = { command: new RedisDeadline(this.settings.commandTimeoutMs), subscriber: new RedisDeadline(this.settings.commandTimeoutMs) };
    this.command = createRedisClient(options.url, {
      connectTimeoutMs: this.settings.commandTimeoutMs,
      reconnectStrategy: (retries, cause) => this.reconnectDelay(retries, cause),
    });
    this.command.on('error', (error: Error) => this.onClientError('command', error));
    this.command.on('ready', () => this.onCommandReady());
    this.command.on('reconnecting', () => this.markDown('command connection lost'));
  }

  /** Connects both connections; rejects with a message naming the (password-free) URL when it cannot. */
  connect(): Promise<void> {
    this.connecting ??= this.start();
    return this.connecting;
  }

  onDelivery(listener: DeliveryListener): void {
    this.listener = listener;
  }

  async publish(room: string, event: PublishedEvent, body: Record<string, unknown>, options?: PublishOptions): Promise<PublishResult> {
    const reply = await this.run('publish', () =>
      this.command.heraldPublish(this.roomKeys(room), options?.dedupKey === undefined ? undefined : this.keys.dedup(room, options.dedupKey), this.inboxOf(inboxUserOf(room, event)), {
        channel: this.keys.channel(room),
        event,
        body: JSON.stringify(body),
        fingerprint: options?.fingerprint ?? '',
        ...this.historyWindow(),
      }),
    );
    if (reply === 'duplicate' || reply === 'conflict') return { duplicate: true, conflict: reply === 'conflict' };
    return { duplicate: false, seq: formatSeq(reply.epoch, reply.position) };
  }

  async claimPublishId(id: string, fingerprint: string): Promise<PublishIdClaim> {
    return this.run('publish id claim', () => this.command.heraldClaimPublishId(this.keys.publishId(id), fingerprint, this.settings.historyTtlS));
  }

  async broadcast(room: string, frame: string, excludeUser?: string): Promise<void> {
    const header = excludeUser === undefined ? 'B' : `B ${JSON.stringify(excludeUser)}`;
    await this.run('broadcast', () => this.command.publish(this.keys.channel(room), `${header}\n${frame}`));
  }

  async subscribe(room: string): Promise<void> {
    const subscriber = this.liveSubscriber();
    const feed: RoomFeed = { last: undefined, anchor: undefined, pending: undefined };
    this.rooms.set(room, feed);
    try {
      await this.bounded('subscribe', subscriber.subscribe(this.keys.channel(room), this.onChannelMessage), 'subscriber');
      // Read after SUBSCRIBE returned: anything later reaches this pod live or by catch-up.
      const latest = await this.bounded('history', this.command.heraldHistory(this.roomKeys(room), undefined, this.historyWindow()));
      feed.anchor = latest ? { epoch: latest.epoch, position: latest.latestPosition } : { epoch: null, position: 0 };
    } catch (error) {
      if (this.rooms.get(room) === feed) this.rooms.delete(room);
      this.dropChannel(room);
      throw this.unavailable('subscribe', error);
    }
  }

  async unsubscribe(room: string): Promise<void> {
    if (!this.rooms.delete(room)) return;
    const subscriber = this.subscriber;
    // A subscriber that is down holds nothing; the next one is built from `rooms`, without this room.
    if (!subscriber?.isReady) return;
    try {
      await this.bounded('unsubscribe', subscriber.unsubscribe(this.keys.channel(room), this.onChannelMessage), 'subscriber');
    } catch (error) {
      throw this.unavailable('unsubscribe', error);
    }
    await this.forgetIfQuiet(room);
  }

  /**
   * Reads of the same room and `since` asked for in one turn of the event loop share one Redis
   * read: a reconnect storm is thousands of clients that rejoin a room having seen the same last
   * message. Only reads not sent yet are shared: the read goes out after every caller asked, and
   * each caller had begun buffering live deliveries before asking (RoomsService.enter), so it
   * covers each of them as a read of its own would.
   */
  history(room: string, since?: string): Promise<HistoryResult> {
    const key = since === undefined ? room : `${room}\n${since}`;
    const pending = this.pendingHistoryReads.get(key);
    if (pending) return pending;
    const read = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.pendingHistoryReads.delete(key);
      return this.readHistory(room, since);
    });
    this.pendingHistoryReads.set(key, read);
    return read;
  }

  private async readHistory(room: string, since: string | undefined): Promise<HistoryResult> {
    const parsed = since === undefined ? undefined : parseSeq(since);
    const reply = await this.run('history', () => this.command.heraldHistory(this.roomKeys(room), parsed, this.historyWindow()));
    if (!reply) return { latestSeq: null, recovered: false, publications: [] };
    const { epoch, latestPosition } = reply;
    const latestSeq = formatSeq(epoch, latestPosition);
    if (!parsed) return { latestSeq, recovered: false, publications: [] };
    // Exactly the contract's window: XADD MAXLEN ~ may keep more, and entries outlive their TTL
    // until the whole stream expires.
    const oldestAllowedMs = reply.nowMs - this.settings.historyTtlS * 1000;
    const inWindow = (reply.entries ?? []).filter(
      (entry) => entry.publishedAtMs > oldestAllowedMs && entry.position > latestPosition - this.settings.historySize,
    );
    const complete = inWindow.length === latestPosition - parsed.position;
    if (!complete || !canRecover(parsed, epoch, latestPosition, inWindow[0]?.position)) {
      return { latestSeq, recovered: false, publications: [] };
    }
    const publications = inWindow.map((entry): Delivery => {
      const seq = formatSeq(epoch, entry.position);
      return { room, seq, publishedAtMs: entry.publishedAtMs, frame: publicationFrame(entry.event, seq, entry.body) };
    });
    return { latestSeq, recovered: true, publications };
  }

  async readInbox(user: string, limit: number, before?: string): Promise<InboxPage> {
    const reply = await this.run('inbox read', () => this.command.heraldInboxRead(this.inboxKeys(user)));
    const oldestMs = reply.nowMs - this.settings.inboxTtlDays * 86_400_000;
    const read = new Set(reply.read);
    const items: InboxItem[] = [];
    for (const raw of reply.entries) {
      const entry = parseInboxEntry(raw);
      if (!entry || entry.storedAtMs <= oldestMs) continue;
      const { id, type, payload, timestamp } = JSON.parse(entry.body) as InboxItem;
      items.push({ id, seq: formatSeq(entry.epoch, entry.position), type, payload, timestamp, read: read.has(id) });
    }
    return inboxPage(items, limit, before);
  }

  async markInboxRead(user: string, selection: string[] | 'all'): Promise<InboxReadResult> {
    const { unread, marked } = await this.run('inbox mark', () =>
      this.command.heraldInboxMark(this.inboxKeys(user), this.settings.inboxTtlDays * 86_400, selection),
    );
    return inboxReadResult(unread, selection, marked);
  }

  async addPresence(room: string, user: string, connectionId: string): Promise<PresenceChange> {
    let entries = this.localPresence.get(room);
    if (!entries) this.localPresence.set(room, (entries = new Map()));
    // Remembered first: if Redis is down now, the entry is registered when it comes back.
    entries.set(connectionId, user);
    const change = await this.run('presence add', () =>
      this.command.heraldPresenceAdd(this.presenceKeys(room), connectionId, user, this.settings.presenceTtlMs),
    );
    this.reportExpired(room, change);
    return { userChanged: change.userChanged, users: change.users };
  }

  async removePresence(room: string, user: string, connectionId: string): Promise<PresenceChange> {
    const entries = this.localPresence.get(room);
    entries?.delete(connectionId);
    if (entries?.size === 0) this.localPresence.delete(room);
    // After close() this pod's entries are already gone from Redis.
    if (this.closed) return { userChanged: false, users: 0 };
    const change = await this.run('presence remove', () => this.command.heraldPresenceRemove(this.presenceKeys(room), connectionId));
    this.reportExpired(room, change);
    return { userChanged: change.userChanged, users: change.users };
  }

  async presence(room: string): Promise<PresenceSnapshot> {
    const snapshot = await this.run('presence', () => this.command.heraldPresenceSnapshot(this.presenceKeys(room)));
    this.reportExpired(room, snapshot);
    return { users: snapshot.userIds, connections: snapshot.connections };
  }

  onPresenceExpired(listener: PresenceExpiredListener): void {
    this.presenceExpiredListener = listener;
  }

  get available(): boolean {
    return this.isAvailable;
  }

  onAvailabilityChange(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  stats(): BrokerStats {
    let presenceEntries = 0;
    for (const entries of this.localPresence.values()) presenceEntries += entries.size;
    // History and de-duplication keys live (and expire) in Redis, not in this process.
    return { subscribedRooms: this.rooms.size, presenceEntries, historyRooms: 0, dedupKeys: 0 };
  }

  /** Forgets this pod's presence in Redis, then closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearInterval(this.healthTimer);
    clearTimeout(this.resyncTimer);
    if (this.command.isReady) {
      await Promise.all(
        [...this.localPresence].flatMap(([room, entries]) =>
          [...entries.keys()].map((connectionId) =>
            this.bounded('presence remove', this.command.heraldPresenceRemove(this.presenceKeys(room), connectionId)).catch((error: unknown) =>
              // Unreachable Redis: the entries expire on their own within presenceTtlMs.
              this.logger.warn({ message: 'Could not remove presence on close', room, error: describe(error) }),
            ),
          ),
        ),
      );
    }
    this.localPresence.clear();
    this.rooms.clear();
    this.setAvailable(false);
    // A resync in flight finishes first (and shuts the subscriber it made, see replaceSubscriber).
    await this.resyncChain.catch(() => undefined);
    await Promise.all([this.shutClient(this.subscriber), this.shutClient(this.command)]);
    this.subscriber = undefined;
  }

  private async start(): Promise<void> {
    // node-redis bounds each TCP connect, not the handshake after it, nor its own retries.
    const startupBudgetMs = this.settings.startupAttempts * (this.settings.commandTimeoutMs + this.settings.reconnectMaxDelayMs);
    try {
      await withDeadline(this.command.connect(), startupBudgetMs, () => new DeadlineExpiredError('the connection handshake', startupBudgetMs));
      this.everConnected = true;
      await this.resync();
    } catch (error) {
      this.closed = true;
      clearTimeout(this.resyncTimer);
      await Promise.all([this.shutClient(this.subscriber), this.shutClient(this.command)]);
      const cause = error instanceof Error && 'originalError' in error ? (error as { originalError: Error }).originalError : error;
      throw new Error(`Cannot connect to Redis at ${redactedUrl(this.settings.url)}: ${describe(cause)}`);
    }
    this.refreshTimer = setInterval(() => this.refreshPresence(), this.settings.presenceRefreshMs);
    this.healthTimer = setInterval(() => this.checkHealth(), this.settings.healthCheckMs);
  }

  /**
   * Brings this pod back in line with Redis after (re)connecting: a fresh subscriber holding
   * every local room, presence re-registered, then available, then each room caught up.
   * Runs one at a time; triggers that arrive meanwhile fold into one more run.
   */
  private resync(): Promise<void> {
    if (this.resyncQueued) return this.resyncChain;
    this.resyncQueued = true;
    this.resyncChain = this.resyncChain
      .catch(() => undefined)
      .then(async () => {
        this.resyncQueued = false;
        if (this.closed || !this.command.isReady) return;
        await this.loadScripts();
        await this.replaceSubscriber();
        if (this.closed) return;
        await this.registerAllPresence();
        this.resyncFailures = 0;
        // Every step above was answered in time: Redis is not silent.
        this.silent = false;
        this.setAvailable(true);
        for (const [room, feed] of this.rooms) void this.catchUp(room, feed);
      });
    return this.resyncChain;
  }

  /** After start-up: a failed resync is retried with backoff while the command connection is up. */
  private scheduleResync(reason: string): void {
    if (this.closed || !this.everConnected) return;
    this.resync().catch((error: unknown) => {
      if (this.closed) return;
      this.resyncFailures++;
      this.logger.warn({ message: 'Redis resync failed', reason, attempt: this.resyncFailures, error: describe(error) });
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.scheduleResync('retry'), this.backoffMs(this.resyncFailures));
    });
  }

  /**
   * Loads every script before the pod takes traffic (again after a Redis restart, which forgets
   * them). Otherwise the first burst of each script fails with NOSCRIPT and is sent again with
   * its whole source: seconds of Redis time for a burst of admissions, with no reply meanwhile.
   */
  private async loadScripts(): Promise<void> {
    await Promise.all(Object.values(REDIS_SCRIPTS).map((script) => this.bounded('SCRIPT LOAD', this.command.scriptLoad(script.SCRIPT))));
  }

  private async replaceSubscriber(): Promise<void> {
    const previous = this.subscriber;
    this.subscriber = undefined;
    await this.shutClient(previous);
    const subscriber = this.command.duplicate({
      // Never reconnects itself: a lost subscriber is replaced by the next resync.
      socket: { connectTimeout: this.settings.commandTimeoutMs, reconnectStrategy: false },
    });
    subscriber.on('error', (error: Error) => this.onSubscriberError(subscriber, error));
    try {
      await this.bounded('subscriber connect', subscriber.connect(), 'subscriber');
      const rooms = [...this.rooms.keys()];
      for (let index = 0; index < rooms.length; index += RESUBSCRIBE_BATCH) {
        const channels = rooms.slice(index, index + RESUBSCRIBE_BATCH).map((room) => this.keys.channel(room));
        await this.bounded('resubscribe', subscriber.subscribe(channels, this.onChannelMessage), 'subscriber');
      }
      // Rooms left while subscribing must not stay subscribed.
      const left = rooms.filter((room) => !this.rooms.has(room)).map((room) => this.keys.channel(room));
      if (left.length > 0) await this.bounded('unsubscribe', subscriber.unsubscribe(left, this.onChannelMessage), 'subscriber');
    } catch (error) {
      await this.shutClient(subscriber);
      throw error;
    }
    // close() ran meanwhile: it could not see this subscriber, so it is shut here.
    if (this.closed) return this.shutClient(subscriber);
    this.subscriber = subscriber;
  }

  private async registerAllPresence(): Promise<void> {
    const refreshes: Promise<void>[] = [];
    for (const [room, entries] of this.localPresence) {
      const all = [...entries];
      for (let index = 0; index < all.length; index += PRESENCE_REFRESH_SLICE) {
        const slice = all.slice(index, index + PRESENCE_REFRESH_SLICE);
        const last = index + PRESENCE_REFRESH_SLICE >= all.length;
        refreshes.push(
          this.bounded('presence refresh', this.command.heraldPresenceRefresh(this.presenceKeys(room), this.settings.presenceTtlMs, slice, last)).then((expired) =>
            this.reportExpired(room, expired),
          ),
        );
      }
    }
    await Promise.all(refreshes);
  }

  /** Extends this pod's presence entries; runs on a timer, every presenceRefreshMs. */
  private refreshPresence(): void {
    if (!this.isAvailable || this.localPresence.size === 0) return;
    this.registerAllPresence().catch((error: unknown) =>
      // The next refresh (or the resync after a reconnect) registers them again.
      this.logger.warn({ message: 'Presence refresh failed', rooms: this.localPresence.size, error: describe(error) }),
    );
  }

  /**
   * A room that never carried a message keeps nothing worth its key once its last member, on
   * any pod, is gone; otherwise joining many such rooms would leave a key per room for
   * HISTORY_TTL_S. Rooms with history keep it for the whole window.
   */
  private async forgetIfQuiet(room: string): Promise<void> {
    try {
      await this.run('forget quiet room', () => this.command.heraldForgetQuietRoom(this.roomKeys(room), this.keys.channel(room)));
    } catch (error) {
      // Harmless: the room's key expires after HISTORY_TTL_S anyway.
      this.logger.debug({ message: 'Could not forget a quiet room', room, error: describe(error) });
    }
  }

  /**
   * Notices a Redis that went silent with its connections open, which node-redis never
   * reports (it waits for a reply as long as the socket lives): a PING on each connection
   * with the command deadline. A silent one marks the broker down; once the command
   * connection answers in time again the pod resyncs (a fresh subscriber, presence, catch-up)
   * as after a reconnect.
   */
  private checkHealth(): void {
    if (this.closed || !this.command.isReady) return;
    this.ping('command', this.command).then(
      (answered) => {
        if (!answered || !this.silent || this.closed) return;
        this.silent = false;
        this.logger.log({ message: 'Redis answers again; resubscribing rooms and re-registering presence', rooms: this.rooms.size });
        this.scheduleResync('Redis answers again');
      },
      (error: unknown) => this.logger.debug({ message: 'Health check PING failed', connection: 'command', error: describe(error) }),
    );
    const subscriber = this.subscriber;
    // A silent subscriber alone is replaced by the resync that follows the command connection's answer.
    if (subscriber?.isReady && this.isAvailable) {
      this.ping('subscriber', subscriber).catch((error: unknown) =>
        this.logger.debug({ message: 'Health check PING failed', connection: 'subscriber', error: describe(error) }),
      );
    }
  }

  /** True when answered in time, false when a PING is still in flight (none is sent then). */
  private async ping(connection: 'command' | 'subscriber', client: RedisClient): Promise<boolean> {
    if (this.pinging[connection]) return false;
    this.pinging[connection] = true;
    const answer = client.ping();
    const settled = () => {
      this.pinging[connection] = false;
    };
    answer.then(settled, settled);
    try {
      await this.bounded(`PING (${connection} connection)`, answer, connection);
    } catch (error) {
      if (error instanceof DeadlineExpiredError) this.markSilent(error.operation);
      throw error;
    }
    return true;
  }

  /**
   * Delivers what this pod missed while its subscriber was away, then the live backlog, in order.
   * When it cannot prove it missed nothing (the room's history is gone, began a new life because
   * Redis lost its data, or no longer reaches back), the room's members get `recovery` (section 4)
   * instead of a silent gap.
   */
  private async catchUp(room: string, feed: RoomFeed): Promise<void> {
    const from = feed.last ?? feed.anchor;
    if (!from || feed.pending) return;
    feed.pending = [];
    let latestSeq: string | null = null;
    let gapReported = false;
    const gap = () => {
      if (!gapReported) this.reportGap(room, latestSeq);
      gapReported = true;
    };
    try {
      latestSeq = (await this.history(room)).latestSeq;
      const latest = latestSeq === null ? undefined : parseSeq(latestSeq)!;
      const sameLife = latest !== undefined && latest.epoch === from.epoch;
      // The history this pod had followed is gone: whatever came after `from` in it is lost.
      if (from.epoch !== null && !sameLife) gap();
      if (latest) {
        // In a new life (or a first one) everything in it is new here, from its start.
        const missed = await this.history(room, formatSeq(latest.epoch, sameLife ? from.position : 0));
        if (missed.recovered) {
          for (const delivery of missed.publications) this.deliverInOrder(feed, delivery, parseSeq(delivery.seq!)!);
        } else {
          // What is declared lost is not delivered late: only publications after `latest` follow.
          feed.last = latest;
          gap();
        }
      }
    } catch (error) {
      this.logger.warn({ message: 'Catch-up after reconnect failed', room, error: describe(error) });
      gap();
    } finally {
      const pending = feed.pending ?? [];
      feed.pending = undefined;
      for (const [delivery, at] of pending) this.deliverInOrder(feed, delivery, at);
    }
  }

  /** Tells the room's members on this pod that it cannot prove they missed nothing. */
  private reportGap(room: string, latestSeq: string | null): void {
    this.logger.warn({ message: 'Room history did not cover the outage; members are told to recover', room });
    this.emit({ room, frame: recoveryFrame(room, latestSeq) });
  }

  private receive(message: string, channel: string): void {
    try {
      this.dispatch(message, channel);
    } catch (error) {
      // Thrown inside node-redis's reply parser it would break the subscriber; drop this one message.
      this.logger.error({ message: 'Could not handle a channel message', channel, error: describe(error) });
    }
  }

  private dispatch(message: string, channel: string): void {
    const room = this.keys.roomOf(channel);
    const feed = room === undefined ? undefined : this.rooms.get(room);
    // A message already in flight when this pod unsubscribed.
    if (room === undefined || !feed) return;
    const newline = message.indexOf('\n');
    const header = message.slice(0, newline);
    const rest = message.slice(newline + 1);
    if (header.startsWith('P ')) {
      const [, epoch, position, publishedAtMs, event] = header.split(' ');
      const at: ParsedSeq = { epoch, position: Number(position) };
      const seq = formatSeq(epoch, at.position);
      const delivery: Delivery = { room, seq, publishedAtMs: Number(publishedAtMs), frame: publicationFrame(event, seq, rest) };
      if (feed.pending) feed.pending.push([delivery, at]);
      else this.deliverInOrder(feed, delivery, at);
    } else if (header === 'B' || header.startsWith('B ')) {
      const excludeUser = header.length > 2 ? (JSON.parse(header.slice(2)) as string) : undefined;
      this.emit({ room, frame: rest, ...(excludeUser === undefined ? {} : { excludeUser }) });
    } else {
      this.logger.warn({ message: 'Ignoring a channel message of unknown shape', room });
    }
  }

  /** Drops what this pod already delivered (same epoch, position not after the last). */
  private deliverInOrder(feed: RoomFeed, delivery: Delivery, at: ParsedSeq): void {
    if (feed.last && feed.last.epoch === at.epoch && at.position <= feed.last.position) return;
    feed.last = at;
    this.emit(delivery);
  }

  private reportExpired(room: string, { expiredUsers, users }: ExpiredPresence): void {
    for (const user of expiredUsers) {
      try {
        this.presenceExpiredListener(room, user, users);
      } catch (error) {
        this.logger.error({ message: 'Presence-expired listener failed', room, error: describe(error) });
      }
    }
  }

  private emit(delivery: Delivery): void {
    try {
      this.listener(delivery);
    } catch (error) {
      this.logger.error({ message: 'Delivery listener failed', room: delivery.room, error: describe(error) });
    }
  }

  private onCommandReady(): void {
    // The first 'ready' belongs to start(); later ones are reconnects.
    if (!this.everConnected || this.closed) return;
    const downMs = this.downSinceMs === undefined ? undefined : Date.now() - this.downSinceMs;
    this.logger.log({ message: 'Redis connection restored; resubscribing rooms and re-registering presence', downMs, rooms: this.rooms.size });
    this.scheduleResync('command connection restored');
  }

  private onSubscriberError(subscriber: RedisClient, error: Error): void {
    if (subscriber !== this.subscriber || this.closed) return;
    this.onClientError('subscriber', error);
    if (subscriber.isOpen) return;
    this.subscriber = undefined;
    this.markDown('subscriber connection lost');
    // With the command connection still up nothing else would notice: rebuild after a pause.
    if (this.command.isReady) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.scheduleResync('subscriber connection lost'), this.backoffMs(0));
    }
  }

  private onClientError(connection: 'command' | 'subscriber', error: Error): void {
    // A reconnect loop reports every failed attempt; the first is worth an error, the rest are noise.
    const repeated = !this.isAvailable && this.everConnected;
    const fields = { message: 'Redis connection error', connection, url: redactedUrl(this.settings.url), error: describe(error) };
    if (repeated) this.logger.debug(fields);
    else if (this.everConnected) this.logger.error(fields);
    else this.logger.warn(fields);
    if (connection === 'command' && !this.command.isReady) this.markDown('command connection lost');
  }

  /** A PING missed its deadline: Redis is stuck or gone for every caller, not just one. */
  private markSilent(operation: string): void {
    if (this.closed) return;
    this.silent = true;
    this.markDown(`Redis did not answer ${operation} within ${this.settings.commandTimeoutMs} ms`);
  }

  private markDown(reason: string): void {
    if (!this.isAvailable) return;
    this.downSinceMs = Date.now();
    this.logger.warn({ message: 'Redis unavailable', reason });
    this.setAvailable(false);
  }

  private setAvailable(available: boolean): void {
    if (this.isAvailable === available) return;
    this.isAvailable = available;
    for (const listener of this.availabilityListeners) {
      try {
        listener(available);
      } catch (error) {
        this.logger.error({ message: 'Availability listener failed', error: describe(error) });
      }
    }
  }

  private reconnectDelay(retries: number, cause: Error): number | Error {
    if (this.closed) return new Error('Broker closed');
    // A new Error, not `cause`: node-redis checks `instanceof Error`, and socket errors may come
    // from another realm (test runners' VM contexts).
    if (!this.everConnected && retries + 1 >= this.settings.startupAttempts) return new Error(describe(cause));
    return this.backoffMs(retries);
  }

  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.settings.reconnectMaxDelayMs, this.settings.reconnectMinDelayMs * 2 ** Math.min(attempt, 16));
    // Full jitter in the upper half: pods that lost Redis together do not return in lockstep.
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  /**
   * Runs a command for a caller: BrokerUnavailableError at once when down, or when the
   * connection fails, or when the command misses its deadline.
   */
  private async run<T>(operation: string, command: () => Promise<T>): Promise<T> {
    if (!this.isAvailable) throw new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation})`);
    try {
      return await this.bounded(operation, command());
    } catch (error) {
      throw this.unavailable(operation, error);
    }
  }

  /**
   * Every call to Redis goes through here (or `run`): it fails with DeadlineExpiredError once
   * its connection has answered nothing for the command deadline while calls wait
   * (RedisDeadline), not once it has waited that long itself. A burst of admissions on a busy
   * pod queues thousands of calls, and the last of them, and a PING behind them, wait far
   * longer than the deadline for a Redis that answers every one in time; failing them (and
   * marking Redis down over a late PING) would refuse connections while Redis is healthy.
   */
  private bounded<T>(operation: string, call: Promise<T>, connection: 'command' | 'subscriber' = 'command'): Promise<T> {
    return this.deadlines[connection].track(call, operation);
  }

  private unavailable(operation: string, error: unknown): Error {
    if (error instanceof BrokerUnavailableError) return error;
    if (error instanceof ErrorReply && !TRANSIENT_REPLY.test(error.message)) return error;
    return new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation}: ${describe(error)})`);
  }

  private liveSubscriber(): RedisClient {
    const subscriber = this.subscriber;
    if (!this.isAvailable || !subscriber?.isReady) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscribe)');
    return subscriber;
  }

  /** Best effort after a failed subscribe: Redis may have subscribed the channel before the failure. */
  private dropChannel(room: string): void {
    const subscriber = this.subscriber;
    if (!subscriber?.isReady || this.rooms.has(room)) return;
    this.bounded('unsubscribe', subscriber.unsubscribe(this.keys.channel(room), this.onChannelMessage), 'subscriber').catch((error: unknown) =>
      // The subscriber is failing too; its replacement is built without this room.
      this.logger.debug({ message: 'Unsubscribe after failed subscribe failed', room, error: describe(error) }),
    );
  }

  private async shutClient(client: RedisClient | undefined): Promise<void> {
    if (!client?.isOpen) return;
    try {
      // close() waits for every pending reply, which a silent Redis never sends.
      await withDeadline(client.close(), this.settings.commandTimeoutMs, () => new DeadlineExpiredError('close', this.settings.commandTimeoutMs));
    } catch (error) {
      this.logger.debug({ message: 'Graceful Redis close failed; destroying the connection', error: describe(error) });
      client.destroy();
    }
  }

  private historyWindow() {
    // Redis supplies the time part of a new epoch (all pods agree on it); the random part comes from here.
    return { historySize: this.settings.historySize, historyTtlS: this.settings.historyTtlS, epochSuffix: newEpochSuffix() };
  }

  private inboxKeys(user: string): InboxKeys {
    return { items: this.keys.inbox(user), read: this.keys.inboxRead(user) };
  }

  private inboxOf(user: string | undefined) {
    if (user === undefined) return undefined;
    return { ...this.inboxKeys(user), size: this.settings.inboxSize, ttlS: this.settings.inboxTtlDays * 86_400 };
  }

  private roomKeys(room: string): RoomKeys {
    return { meta: this.keys.meta(room), history: this.keys.history(room) };
  }

  private presenceKeys(room: string): PresenceKeys {
    return { expiry: this.keys.presenceExpiry(room), connections: this.keys.presenceConnections(room), users: this.keys.presenceUsers(room) };
  }
}

/** The URL without its password, for logs and errors. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describe).join('; ');
  // node-redis's TimeoutError has no message: its class says what happened.
  if (error instanceof Error) return error.message || error.constructor.name;
  return String(error);
}
