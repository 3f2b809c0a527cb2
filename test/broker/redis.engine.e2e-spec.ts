import { Socket } from 'node:net';
import { createClient } from 'redis';
import { BrokerUnavailableError, Delivery, Publication, PublishResult } from '../../src/broker/broker';
import { RedisEngine } from '../../src/broker/redis/redis.engine';
import { RedisKeys } from '../../src/broker/redis/redis-keys';
import { ClosedWhileStartingError } from '../../src/broker/redis/redis.connection';
import { StandaloneRedisConnection } from '../../src/broker/redis/standalone.connection';
import { historyEntry } from '../../src/broker/redis/room.scripts';
import { EPOCH_TIME_DIGITS, formatSeq, newEpoch, parseSeq } from '../../src/broker/seq';
import { eventually } from '../support/eventually';
import { RedisServer, startRedis } from '../support/redis-server';
import { stallConnects } from '../support/stalled-connects';
import { DeliveryLog, brokerContract } from './broker.contract';
import { closeDuringStart, closeDuringStartPause } from './closed-while-starting';
import { inboxStoreContract } from './inbox-store.contract';
import { presenceStoreContract } from './presence-store.contract';
import { TEST_REDIS_OPTIONS, redisHarness, uniquePrefix } from './redis-harness';
import { publishPastAThrowingListener } from './throwing-listener';

let redis: RedisServer;
const harness = redisHarness(() => redis);

/** Two pods on one fresh prefix, with what the first delivers logged: how most tests of a second pod's effect begin. */
async function twoPods() {
  const prefix = uniquePrefix();
  const a = await harness.pod({ prefix });
  const b = await harness.pod({ prefix });
  return { prefix, a, b, inbox: new DeliveryLog(a.broker) };
}
const body = (text: string) => ({ text });
const textOf = (delivery: Delivery) => (JSON.parse((delivery as Publication).body) as { text: string }).text;

/** A plain client for looking at Redis from outside the brokers. */
async function inspector() {
  const client = createClient({ url: redis.url });
  client.on('error', () => undefined); // Tests that stop Redis expect this client to lose it too.
  await client.connect();
  return client;
}

type Inspector = Awaited<ReturnType<typeof inspector>>;

/** Runs `look` with a plain client on Redis, closed however it ends. */
async function inspecting<T>(look: (client: Inspector) => Promise<T>): Promise<T> {
  const client = await inspector();
  try {
    return await look(client);
  } finally {
    await client.close();
  }
}

/** This process's TCP sockets to `port` (the pods' connections to Redis). */
function socketsTo(port: number): Socket[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((handle): handle is Socket => handle instanceof Socket && handle.remotePort === port);
}

/** Of `sockets`, the one Redis lists as a subscriber (CLIENT LIST's `P` flag, by its address). */
async function subscriberSocketAmong(sockets: Socket[]): Promise<Socket> {
  const list = await inspecting((client) => client.sendCommand(['CLIENT', 'LIST']));
  const ports = String(list)
    .split('\n')
    .filter((line) => / flags=\w*P/.test(line))
    .map((line) => Number(/ addr=[^ ]*:(\d+) /.exec(line)?.[1]));
  const found = sockets.filter((socket) => ports.includes(socket.localPort!));
  if (found.length !== 1) throw new Error(`expected one subscriber among the pod's ${sockets.length} sockets, found ${found.length}`);
  return found[0];
}

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('RedisEngine', () => {
  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));

  it('ends a start closed while it pauses between tries of its resync at once, as closed while it started', async () => {
    // A pause of about a minute: the test's timeout if close() did not cut it short.
    const connection = new StandaloneRedisConnection({ ...TEST_REDIS_OPTIONS, url: redis.url, reconnectMinDelayMs: 60_000, reconnectMaxDelayMs: 60_000 });
    let tries = 0;
    connection.onResync(async () => {
      tries++;
      throw new Error('presence could not be registered');
    });
    const started = await closeDuringStartPause(connection, 'Redis start-up resync failed; trying again');
    expect(started).toMatchObject({ status: 'rejected', reason: expect.any(ClosedWhileStartingError) });
    expect(tries).toBe(1);
  });

  it("shares one subscriber PING among the flushes asked in one turn, and PINGs again for a later turn's", async () => {
    const connection = new StandaloneRedisConnection({ ...TEST_REDIS_OPTIONS, url: redis.url });
    try {
      await connection.connect();
      const channels = Array.from({ length: 30 }, (_, index) => `${uniquePrefix()}flush-${index}`);
      for (const channel of channels) await connection.subscribe(channel);
      const subscriber = (connection as unknown as { subscriber: { ping(): Promise<string> } }).subscriber;
      const pings = jest.spyOn(subscriber, 'ping');
      await Promise.all(channels.map((channel) => connection.flushChannel(channel)));
      expect(pings).toHaveBeenCalledTimes(1);
      // Each later turn's flush is one of its own: a PING written before a read was answered covers nothing of it.
      for (const channel of channels.slice(0, 3)) await connection.flushChannel(channel);
      expect(pings).toHaveBeenCalledTimes(4);
    } finally {
      await connection.close();
    }
  });

  it('loses only the message its listener throws on: the subscriber goes on delivering the next ones', async () => {
    const connection = new StandaloneRedisConnection({ ...TEST_REDIS_OPTIONS, url: redis.url });
    expect(await publishPastAThrowingListener(connection, `${uniquePrefix()}listener-throws`)).toEqual({ received: ['before', 'after'], available: true });
  });

  it('fails a start closed during its resync, and leaves no health timer running', async () => {
    const { started, healthTimer } = await closeDuringStart(new StandaloneRedisConnection({ ...TEST_REDIS_OPTIONS, url: redis.url }));
    expect(started).toMatchObject({ status: 'rejected', reason: expect.any(ClosedWhileStartingError) });
    expect(healthTimer).toBeUndefined();
  });

  describe('publishes handed over in one turn', () => {
    afterEach(() => harness.closeAll());
    /** Publish script calls so far: the script alone runs INFO, once per call (each look adds its own INFO). */
    const scriptCalls = async (client: Inspector) => Number(/cmdstat_info:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);

    it('go to Redis as one script call, each stored, de-duplicated, kept in its inbox and delivered as if alone, in order', async () => {
      const prefix = uniquePrefix();
      const { broker, inbox } = await harness.pod({ prefix });
      const deliveries = new DeliveryLog(broker);
      await broker.subscribe('chat');
      await broker.subscribe('user:ann');
      await broker.publish('chat', 'message', body('before'));
      await inspecting(async (client) => {
        const callsBefore = await scriptCalls(client);
        const published = await Promise.all([
          broker.publish('chat', 'message', body('c1')),
          broker.publish('user:ann', 'notification', { id: 'n1', text: 'a1' }, { inboxUser: 'ann', dedupKey: 'n1', fingerprint: 'f1' }),
          broker.publish('chat', 'message', body('c2')),
          // The same id again in the same call: stored once, the repeat told apart from a conflict.
          broker.publish('user:ann', 'notification', { id: 'n1', text: 'a1' }, { inboxUser: 'ann', dedupKey: 'n1', fingerprint: 'f1' }),
          broker.publish('user:ann', 'notification', { id: 'n1', text: 'other' }, { inboxUser: 'ann', dedupKey: 'n1', fingerprint: 'f2' }),
          broker.publish('chat', 'message', body('c3')),
        ]);
        expect((await scriptCalls(client)) - callsBefore).toBe(2); // the publishes' one call and the first look's INFO
        expect(published.slice(3)).toEqual([{ duplicate: true, conflict: false }, { duplicate: true, conflict: true }, expect.objectContaining({ duplicate: false })]);
        const seqs = published.filter((result) => !result.duplicate).map((result) => parseSeq((result as { seq: string }).seq)!.position);
        expect(seqs).toEqual([2, 1, 3, 4]);
        await eventually(() => expect(deliveries.of('chat').map(textOf)).toEqual(['before', 'c1', 'c2', 'c3']));
        await eventually(() => expect(deliveries.of('user:ann').map(textOf)).toEqual(['a1']));
        expect((await inbox.read('ann', 10)).items.map((item) => item.id)).toEqual(['n1']);
        const { epoch } = parseSeq((published[0] as { seq: string }).seq)!;
        expect((await broker.history('chat', formatSeq(epoch, 1))).publications.map((publication) => JSON.parse(publication.body).text)).toEqual(['c1', 'c2', 'c3']);
      });
    });

    it("claim their ids in one script call, each as if claimed alone: a repeat in the same call included", async () => {
      const prefix = uniquePrefix();
      const { broker } = await harness.pod({ prefix });
      const keys = new RedisKeys(prefix);
      const claimCalls: string[] = [];
      await inspecting(async (watcher) => {
        await watcher.monitor((line) => {
          if (line.includes('EVALSHA') && line.includes(keys.publishId('n1'))) claimCalls.push(line);
        });
        expect(await broker.claimPublishId('n0', 'f0')).toBe('first');
        const claims = await Promise.all([
          broker.claimPublishId('n1', 'f1'),
          broker.claimPublishId('n2', 'f2'),
          broker.claimPublishId('n1', 'f1'),
          broker.claimPublishId('n1', 'other'),
          broker.claimPublishId('n0', 'f0'),
        ]);
        expect(claims).toEqual(['first', 'first', 'repeat', 'conflict', 'repeat']);
        await eventually(() => expect(claimCalls).toHaveLength(1));
        expect(claimCalls[0]).toContain(keys.publishId('n2'));
      });
    });

    it('fails a notification Redis refuses by itself: the others of its call are stored and delivered', async () => {
      const prefix = uniquePrefix();
      const { broker } = await harness.pod({ prefix });
      const deliveries = new DeliveryLog(broker);
      await broker.subscribe('chat');
      const keys = new RedisKeys(prefix);
      await inspecting(async (client) => {
        // A key of the wrong type under a live room's history: its LPUSH fails halfway through the publish.
        await broker.publish('broken', 'message', body('first'));
        await client.set(keys.history('broken'), 'not a list');
        const published = await Promise.allSettled([
          broker.publish('chat', 'message', body('c1')),
          broker.publish('broken', 'message', body('lost')),
          broker.publish('chat', 'message', body('c2')),
        ]);
        expect(published.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect(String((published[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
        await eventually(() => expect(deliveries.of('chat').map(textOf)).toEqual(['c1', 'c2']));
      });
    });
  });

  describe('the inbox index', () => {
    afterEach(() => harness.closeAll());
    const notificationFor = (user: string, id: string) => ({ id, room: `user:${user}`, type: 'ping', payload: { big: 'x'.repeat(1000) }, timestamp: '2024-01-01T00:00:00.000Z' });

    it('reads and marks an inbox an earlier version wrote without an index, and one whose index went missing', async () => {
      const prefix = uniquePrefix();
      const { broker, inbox } = await harness.pod({ prefix });
      const keys = new RedisKeys(prefix);
      const client = await inspector();
      try {
        for (const id of ['n1', 'n2']) await broker.publish('user:ann', 'notification', notificationFor('ann', id), { inboxUser: 'ann' });
        // A pod of an earlier version pushes an item and keeps no index.
        const [epoch, position] = (await client.lIndex(keys.inbox('ann'), 0))!.split(' ').slice(1, 3);
        await client.lPush(keys.inbox('ann'), `${Date.now()} ${epoch} ${Number(position) + 1} ${JSON.stringify(notificationFor('ann', 'old-pod'))}`);
        expect((await inbox.read('ann', 10)).items.map((item) => item.id)).toEqual(['old-pod', 'n2', 'n1']);
        expect(await client.lLen(keys.inboxIndex('ann'))).toBe(3);
        // The index lost (or expired apart from the items): rebuilt at the next read or mark.
        await client.del(keys.inboxIndex('ann'));
        expect(await inbox.markRead('ann', ['n1', 'old-pod'])).toBe(1);
        const page = await inbox.read('ann', 10);
        expect(page.items.map((item) => [item.id, item.read])).toEqual([['old-pod', true], ['n2', false], ['n1', true]]);
        expect(await client.pTTL(keys.inboxIndex('ann'))).toBeGreaterThan(0);
      } finally {
        await client.close();
      }
    });

    it('looks up one item past index entries with no seq (items it could not read an id from), wherever they are', async () => {
      const prefix = uniquePrefix();
      const { broker, inbox } = await harness.pod({ prefix });
      const keys = new RedisKeys(prefix);
      await inspecting(async (client) => {
        const seqs: string[] = [];
        for (let i = 0; i < 12; i++) {
          const published = await broker.publish('user:ann', 'notification', notificationFor('ann', `n${i}`), { inboxUser: 'ann' });
          if (!published.duplicate) seqs.push(published.seq);
        }
        await inbox.markRead('ann', ['n4']);
        // Unreadable items at the newest, the oldest and in runs between; the index is rebuilt.
        const unreadable = `${Date.now()} ${parseSeq(seqs[0])!.epoch} 0 {"no":"id"}`;
        const items = await client.lRange(keys.inbox('ann'), 0, -1);
        const mixed = [unreadable, ...items.slice(0, 3), unreadable, unreadable, unreadable, ...items.slice(3, 9), unreadable, ...items.slice(9), unreadable];
        await client.del([keys.inbox('ann'), keys.inboxIndex('ann')]);
        await client.rPush(keys.inbox('ann'), mixed);
        const states = await Promise.all(seqs.map((seq, i) => inbox.itemState('ann', { id: `n${i}`, seq })));
        expect(states).toEqual(seqs.map((_, i) => (i === 4 ? 'read' : 'unread')));
        expect((await client.lRange(keys.inboxIndex('ann'), 0, -1)).filter((entry) => entry.startsWith('0 '))).toHaveLength(6);
        expect(await inbox.itemState('ann', { id: 'n5', seq: `${seqs[5]}0` })).toBe('absent');
      });
    });

    it('keeps the index beside the items: trimmed together, each entry without the body', async () => {
      const prefix = uniquePrefix();
      const { broker } = await harness.pod({ prefix, inboxSize: 3 });
      const keys = new RedisKeys(prefix);
      const client = await inspector();
      try {
        for (const id of ['n1', 'n2', 'n3', 'n4', 'n5']) await broker.publish('user:bo', 'notification', notificationFor('bo', id), { inboxUser: 'bo' });
        const index = await client.lRange(keys.inboxIndex('bo'), 0, -1);
        expect(index.map((entry) => entry.split(' ').at(-1))).toEqual(['n5', 'n4', 'n3']);
        expect(index.every((entry) => entry.length < 100)).toBe(true);
        expect(await client.lLen(keys.inbox('bo'))).toBe(3);
      } finally {
        await client.close();
      }
    });
  });

  describe('subscriptions', () => {
    afterEach(() => harness.closeAll());

    it('holds a Redis subscription exactly while the room is subscribed', async () => {
      const prefix = uniquePrefix();
      const { broker } = await harness.pod({ prefix });
      const client = await inspector();
      const channels = () => client.pubSubChannels(`${prefix}*`);
      try {
        await broker.subscribe('chat');
        await broker.subscribe('news');
        expect((await channels()).sort()).toEqual([`${prefix}room:chat`, `${prefix}room:news`]);
        await broker.unsubscribe('chat');
        expect(await channels()).toEqual([`${prefix}room:news`]);
        await broker.unsubscribe('news');
        expect(await channels()).toEqual([]);
      } finally {
        await client.close();
      }
    });

    it('carries personal rooms on REDIS_PERSONAL_CHANNELS shared channels, held while any of their rooms is followed', async () => {
      const prefix = uniquePrefix();
      const { broker } = await harness.pod({ prefix, personalChannels: 4 });
      const client = await inspector();
      const channels = async () => (await client.pubSubChannels(`${prefix}*`)).sort();
      const rooms = Array.from({ length: 40 }, (_, index) => `user:p${index}`);
      try {
        for (const room of rooms) await broker.subscribe(room);
        await broker.subscribe('chat');
        expect(await channels()).toEqual([0, 1, 2, 3].map((bucket) => `${prefix}personal:${bucket}`).concat(`${prefix}room:chat`).sort());
        // Following a personal room starts no history life: nothing is written for it.
        expect(await client.keys(`${prefix}*`)).toEqual([expect.stringContaining('{chat}:meta')]);
        for (const room of rooms.slice(1)) await broker.unsubscribe(room);
        // A shared channel is let go in the background once its last room is.
        await eventually(async () => expect(await channels()).toHaveLength(2));
        expect(await channels()).toContain(`${prefix}room:chat`);
        await broker.unsubscribe(rooms[0]);
        await eventually(async () => expect(await channels()).toEqual([`${prefix}room:chat`]));
      } finally {
        await client.close();
      }
    });

    it('gives every personal room a channel of its own with REDIS_PERSONAL_CHANNELS=0', async () => {
      const prefix = uniquePrefix();
      const { broker } = await harness.pod({ prefix, personalChannels: 0 });
      const client = await inspector();
      try {
        await broker.subscribe('user:alice');
        await broker.subscribe('user:bob');
        expect((await client.pubSubChannels(`${prefix}*`)).sort()).toEqual([`${prefix}room:user:alice`, `${prefix}room:user:bob`]);
        // Followed with its anchor read afterwards, by a read that writes nothing: no history life started.
        expect(await client.keys(`${prefix}*`)).toEqual([]);
      } finally {
        await client.close();
      }
    });

    it('namespaces keys and channels with the prefix', async () => {
      const prefix = uniquePrefix();
      const engine = await harness.pod({ prefix });
      await engine.broker.publish('chat', 'notification', body('n1'), { dedupKey: 'n1:chat' });
      await engine.presence.add('chat', 'alice', 'c1');
      const client = await inspector();
      try {
        const keys = await client.keys('*');
        const ours = keys.filter((key) => key.startsWith(prefix));
        expect(ours.length).toBeGreaterThanOrEqual(5);
        const other = await harness.pod({ prefix: uniquePrefix() });
        // The other prefix's room has no publications: its history life starts at position 0.
        const elsewhere = await other.broker.history('chat');
        expect(parseSeq(elsewhere.latestSeq!)!.position).toBe(0);
        expect(elsewhere.publications).toEqual([]);
        expect(await other.presence.snapshot('chat')).toEqual({ users: [], connections: 0 });
      } finally {
        await client.close();
      }
    });
  });

  describe('personal rooms\' presence', () => {
    afterEach(() => harness.closeAll());

    it('counts what pods of an earlier version recorded per connection, during a rolling update, until it expires', async () => {
      const prefix = uniquePrefix();
      const pod = await harness.pod({ prefix });
      const keys = new RedisKeys(prefix);
      const client = await inspector();
      try {
        // An earlier version's pod kept an entry per connection in the shared set, refreshed by its timer.
        const shard = keys.personalPresenceRoom('user:dan');
        const [seconds] = await client.time();
        const nowMs = Number(seconds) * 1000;
        await client.zAdd(keys.presenceExpiry(shard), [
          { score: nowMs + 60_000, value: 'old-pod.1' },
          { score: nowMs - 1, value: 'old-pod.2' },
        ]);
        await client.hSet(keys.presenceConnections(shard), { 'old-pod.1': 'dan', 'old-pod.2': 'eve' });
        await client.hSet(keys.presenceUsers(shard), { dan: '1', eve: '1' });
        pod.presence.enterPersonal('user:dan', 'dan', 'new-pod.1');
        expect(await pod.presence.snapshot('user:dan')).toEqual({ users: ['dan'], connections: 2 });
        // eve's entry expired: her old pod died.
        expect(await pod.presence.snapshot('user:eve')).toEqual({ users: [], connections: 0 });
        await client.zAdd(keys.presenceExpiry(shard), { score: nowMs - 1, value: 'old-pod.1' });
        expect(await pod.presence.snapshot('user:dan')).toEqual({ users: ['dan'], connections: 1 });
      } finally {
        await client.quit();
      }
    });

    it("writes a pod's counts whole again when Redis no longer holds them, and keeps one hash per pod, not an entry per connection", async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix });
      const b = await harness.pod({ prefix });
      const client = await inspector();
      try {
        for (let index = 0; index < 30; index++) a.presence.enterPersonal(`user:u${index}`, `u${index}`, `a${index}`);
        a.presence.enterPersonal('user:u0', 'u0', 'a-second-tab');
        expect(await a.presence.snapshot('user:u0')).toEqual({ users: ['u0'], connections: 2 });
        const podHashes = await client.keys(`${prefix}*:presence:pod:*`);
        expect(podHashes).toHaveLength(1);
        expect(await client.hLen(podHashes[0])).toBe(30);
        // Lost, as after a stall past the TTL: the next refresh finds the hash gone and writes it whole.
        expect(await client.del(podHashes[0])).toBe(1);
        await eventually(async () => expect(await client.hLen(podHashes[0])).toBe(30));
        await eventually(async () => expect(await b.presence.snapshot('user:u0')).toEqual({ users: ['u0'], connections: 2 }));
        expect(await b.presence.snapshot('user:u29')).toEqual({ users: ['u29'], connections: 1 });
      } finally {
        await client.quit();
      }
    });
  });

  describe('losing Redis', () => {
    afterEach(() => harness.closeAll());

    it('turns unavailable at once, fails calls fast, and recovers subscriptions and presence after a restart', async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix });
      const b = await harness.pod({ prefix });
      const changes: boolean[] = [];
      a.broker.onAvailabilityChange((available) => changes.push(available));
      const inbox = new DeliveryLog(a.broker);
      await a.broker.subscribe('chat');
      await a.presence.add('chat', 'alice', 'c1');
      a.presence.enterPersonal('user:alice', 'alice', 'c1');
      a.presence.enterPersonal('user:gil', 'gil', 'c2');
      expect(await a.presence.snapshot('user:alice')).toEqual({ users: ['alice'], connections: 1 });
      const before = (await b.broker.publish('chat', 'message', body('before'))) as { seq: string };
      await eventually(() => expect(inbox.of('chat')).toHaveLength(1));

      await redis.kill();
      await eventually(() => expect(a.broker.available).toBe(false));
      expect(changes).toEqual([false]);
      const started = Date.now();
      await expect(a.broker.publish('chat', 'message', body('lost'))).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.broker.history('chat')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.broker.subscribe('other')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.presence.add('chat', 'bob', 'c9')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.presence.snapshot('chat')).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(Date.now() - started).toBeLessThan(1000);
      // Leaving while Redis is down is remembered: c9 is not re-registered later.
      await a.presence.remove('chat', 'bob', 'c9').catch(() => undefined);
      // So are personal rooms entered and left meanwhile.
      a.presence.enterPersonal('user:bob', 'bob', 'c9');
      a.presence.leavePersonal('user:gil', 'gil', 'c2');
      await expect(a.presence.snapshot('user:bob')).rejects.toBeInstanceOf(BrokerUnavailableError);

      await redis.restart();
      await eventually(() => expect(a.broker.available && b.broker.available).toBe(true), 5000);
      expect(changes).toEqual([false, true]);

      // Subscriptions came back without anyone subscribing again.
      const after = (await b.broker.publish('chat', 'message', body('after'))) as { seq: string };
      // The history went with Redis, so this pod cannot prove its members missed nothing while it
      // was away: they are told so (section 4's recovery) before anything of the new history.
      await eventually(() => expect(inbox.of('chat')).toHaveLength(3));
      const [first, gap, last] = inbox.of('chat');
      expect(textOf(first)).toBe('before');
      expect(gap).toEqual({ kind: 'gap', room: 'chat', latestSeq: expect.any(String) });
      expect(textOf(last)).toBe('after');
      // A new epoch, so the old seq cannot be recovered by a join either.
      expect(parseSeq(after.seq)!.epoch).not.toBe(parseSeq(before.seq)!.epoch);
      expect((await b.broker.history('chat', before.seq)).recovered).toBe(false);
      // Presence was registered again.
      expect(await b.presence.snapshot('chat')).toEqual({ users: ['alice'], connections: 1 });
      expect(await b.presence.snapshot('user:alice')).toEqual({ users: ['alice'], connections: 1 });
      expect(await b.presence.snapshot('user:bob')).toEqual({ users: ['bob'], connections: 1 });
      expect(await b.presence.snapshot('user:gil')).toEqual({ users: [], connections: 0 });
    });

    it('closes promptly while Redis is down', async () => {
      const outage = await startRedis();
      const engine = new RedisEngine({ ...TEST_REDIS_OPTIONS, url: outage.url, prefix: uniquePrefix() });
      await engine.connect();
      await engine.broker.subscribe('chat');
      await engine.presence.add('chat', 'alice', 'c1');
      await outage.kill();
      await eventually(() => expect(engine.broker.available).toBe(false));
      const started = Date.now();
      await engine.close();
      expect(Date.now() - started).toBeLessThan(1000);
      await outage.stop();
    });

    it("says a history read ran ahead of the pod's feed (aheadOfFeed) once it waited the command timeout for the feed in vain", async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix });
      const before = socketsTo(redis.port);
      // No health PING on the stalled subscriber: it would take the pod down and resubscribe. No
      // replay kept in memory either, which would answer from what the feed delivered: reads go to Redis.
      const b = await harness.pod({ prefix, healthCheckMs: 600_000, replaySize: 0 });
      const inbox = new DeliveryLog(b.broker);
      await b.broker.subscribe('chat');
      await a.broker.publish('chat', 'message', body('m1'));
      await a.broker.publish('chat', 'message', body('m2'));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(2));
      // From before what the feed delivered last, so the read goes to Redis.
      const [first] = inbox.seqsOf('chat');
      // The feed stalls (its subscriber reads nothing) while reads on the command connection go on:
      // a history read sees what the feed has not delivered, as during a failover.
      const subscriber = await subscriberSocketAmong(socketsTo(redis.port).filter((socket) => !before.includes(socket)));
      subscriber.pause();
      try {
        await a.broker.publish('chat', 'message', body('m3'));
        const read = await b.broker.history('chat', first);
        expect(read).toMatchObject({ recovered: true, aheadOfFeed: true });
        expect(read.publications.map((publication) => textOf(publication))).toEqual(['m2', 'm3']);
        expect(inbox.of('chat')).toHaveLength(2);
      } finally {
        subscriber.resume();
      }
      await eventually(() => expect(inbox.of('chat').map((delivery) => textOf(delivery))).toEqual(['m1', 'm2', 'm3']));
      // Caught up: a read the feed has delivered is not ahead of it.
      expect((await b.broker.history('chat', first)).aheadOfFeed).toBeUndefined();
    });

    it('replaces a lost subscriber and delivers what the pod missed meanwhile, once and in order', async () => {
      const { prefix, a, b, inbox } = await twoPods();
      await a.broker.subscribe('chat');
      await a.broker.subscribe('quiet');
      await b.broker.publish('chat', 'message', body('m1'));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(1));

      const client = await inspector();
      try {
        // Only the subscriber connections die; every command connection stays up.
        await client.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        const published: string[] = [];
        for (let index = 2; index <= 6; index++) {
          await b.broker.publish('chat', 'message', body(`m${index}`));
          published.push(`m${index}`);
        }
        await b.broker.publish('quiet', 'message', body('q1'));
        await eventually(() => expect(inbox.of('chat').map((delivery) => textOf(delivery))).toEqual(['m1', ...published]), 5000);
        await eventually(() => expect(inbox.of('quiet').map((delivery) => textOf(delivery))).toEqual(['q1']), 5000);
        await b.broker.publish('chat', 'message', body('m7'));
        await eventually(() => expect(inbox.of('chat')).toHaveLength(7));
        const seqs = inbox.seqsOf('chat');
        expect([...seqs].sort()).toEqual(seqs);
        expect(new Set(seqs).size).toBe(7);
        expect((await client.pubSubChannels(`${prefix}*`)).sort()).toEqual([`${prefix}room:chat`, `${prefix}room:quiet`]);
      } finally {
        await client.close();
      }
    });
  });

  describe('losing the subscriber of shared personal channels', () => {
    afterEach(() => harness.closeAll());

    it('catches every followed personal room up, once and in order, and none that is not followed', async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix, personalChannels: 2 });
      const b = await harness.pod({ prefix, personalChannels: 2 });
      const inbox = new DeliveryLog(a.broker);
      const followed = ['user:ann', 'user:ben', 'user:cy'];
      for (const room of followed) await a.broker.subscribe(room);
      await b.broker.publish('user:ann', 'notification', body('a1'));
      await eventually(() => expect(inbox.of('user:ann')).toHaveLength(1));

      const client = await inspector();
      try {
        await client.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        for (const room of [...followed, 'user:dee']) await b.broker.publish(room, 'notification', body(`${room} while away`));
        await b.broker.publish('user:ann', 'notification', body('a3'));
        await eventually(() => expect(inbox.of('user:ann').map(textOf)).toEqual(['a1', 'user:ann while away', 'a3']), 5000);
        for (const room of ['user:ben', 'user:cy']) await eventually(() => expect(inbox.of(room).map(textOf)).toEqual([`${room} while away`]), 5000);
        expect(inbox.of('user:dee')).toEqual([]);
        expect(inbox.deliveries.every((delivery) => delivery.kind === 'publication')).toBe(true);
      } finally {
        await client.close();
      }
    });
  });

  describe('losing Redis with personal rooms on shared channels', () => {
    afterEach(() => harness.closeAll());

    it('tells a followed personal room that its history is gone (the recovery of section 4), then delivers the new life', async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix, personalChannels: 2 });
      const b = await harness.pod({ prefix, personalChannels: 2 });
      const inbox = new DeliveryLog(a.broker);
      await a.broker.subscribe('user:ann');
      await b.broker.publish('user:ann', 'notification', body('before'));
      await eventually(() => expect(inbox.of('user:ann')).toHaveLength(1));

      await redis.kill();
      await eventually(() => expect(a.broker.available).toBe(false));
      await redis.restart();
      await eventually(() => expect(a.broker.available && b.broker.available).toBe(true), 5000);
      await b.broker.publish('user:ann', 'notification', body('after'));
      await eventually(() => expect(inbox.of('user:ann')).toHaveLength(3), 5000);
      const [first, gap, last] = inbox.of('user:ann');
      expect(textOf(first)).toBe('before');
      expect(gap).toEqual({ kind: 'gap', room: 'user:ann', latestSeq: expect.any(String) });
      expect(textOf(last)).toBe('after');
    });
  });

  describe('a personal room followed near the end of its history life', () => {
    afterEach(() => harness.closeAll());

    it('keeps that life going from the moment it is followed: the next publication continues it, with no recovery for nothing', async () => {
      const { prefix, a, b, inbox } = await twoPods();
      const meta = new RedisKeys(prefix).meta('user:ann');
      const first = await b.broker.publish('user:ann', 'notification', body('while away'));
      // The life a notification started, moments from its end (HISTORY_TTL_S after that notification).
      await inspecting((client) => client.pExpire(meta, 400));
      await a.broker.subscribe('user:ann');
      // Until the room's anchor is read and the life kept going, or the life lapses under the pod.
      await eventually(async () => {
        const ttlMs = await inspecting((client) => client.pTTL(meta));
        expect(ttlMs === -2 || ttlMs > 1000).toBe(true);
      });
      const next = await b.broker.publish('user:ann', 'notification', body('back'));
      await eventually(() => expect(inbox.of('user:ann')).toHaveLength(1));
      // Nothing was missed: no gap (a `recovery`), and the same life as the notification before it.
      expect(inbox.of('user:ann').map((delivery) => delivery.kind)).toEqual(['publication']);
      const lifeOf = (result: PublishResult) => (result.duplicate ? undefined : result.seq.split('-')[0]);
      expect(lifeOf(next)).toBe(lifeOf(first));
      expect(lifeOf(first)).toBeDefined();
    });
  });

  describe('a subscription that missed publications without noticing', () => {
    it('catches the room up from history when a live publication skips positions, then delivers it', async () => {
      const { prefix, a, b, inbox } = await twoPods();
      await a.broker.subscribe('chat');
      await b.broker.publish('chat', 'message', body('m1'));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(1));

      // m2 is stored as the publish script stores it, but its message never reaches the pod (as
      // while a Cluster slot moves to another primary).
      const client = await inspector();
      try {
        const position = await client.hIncrBy(`${prefix}{chat}:meta`, 'position', 1);
        const epoch = (await client.hGet(`${prefix}{chat}:meta`, 'epoch'))!;
        const [seconds, micros] = (await client.time()).map(Number);
        const publishedAtMs = seconds * 1000 + Math.floor(micros / 1000);
        await client.lPush(new RedisKeys(prefix).history('chat'), historyEntry({ epoch, position, publishedAtMs, event: 'message', body: JSON.stringify(body('m2')) }));
      } finally {
        await client.close();
      }
      await b.broker.publish('chat', 'message', body('m3'));
      await eventually(() => expect(inbox.of('chat').map(textOf)).toEqual(['m1', 'm2', 'm3']));
      expect(inbox.of('chat').every((delivery) => delivery.kind === 'publication')).toBe(true);
    });
  });

  describe('a failover that lost writes', () => {
    afterEach(() => harness.closeAll());

    it('tells the room to recover when a position it delivered comes back with another publication, then delivers that one', async () => {
      const { prefix, a, b, inbox } = await twoPods();
      await a.broker.subscribe('chat');
      for (const text of ['m1', 'm2', 'm3']) await b.broker.publish('chat', 'message', body(text));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(3));

      // As a primary that died before replicating m3: its replica, now primary, ends at m2.
      const client = await inspector();
      try {
        const kept = parseSeq(inbox.seqsOf('chat')[1])!.position;
        // The history list is newest first: m3 is its head.
        await client.lTrim(new RedisKeys(prefix).history('chat'), 1, -1);
        await client.hSet(`${prefix}{chat}:meta`, 'position', String(kept));
      } finally {
        await client.close();
      }
      await b.broker.publish('chat', 'message', body('m3 again'));
      await b.broker.publish('chat', 'message', body('m4'));
      await eventually(() => expect(inbox.of('chat').filter((delivery) => delivery.kind === 'publication').map(textOf)).toEqual(['m1', 'm2', 'm3', 'm3 again', 'm4']));
      const gaps = inbox.of('chat').filter((delivery) => delivery.kind === 'gap');
      expect(gaps).toEqual([{ kind: 'gap', room: 'chat', latestSeq: inbox.seqsOf('chat')[1] }]);
      // The repeat of a publication it did deliver is still dropped.
      expect(inbox.of('chat').map((delivery) => delivery.kind)).toEqual(['publication', 'publication', 'publication', 'gap', 'publication', 'publication']);
    });

    /** Writes the room's meta as a replica promoted in a failover holds it: the old primary's epoch and history. */
    async function replicatedMeta(prefix: string, epoch: string): Promise<void> {
      const client = await inspector();
      try {
        await client.hSet(`${prefix}{chat}:meta`, { epoch, position: '1', replid: 'the-old-primary' });
      } finally {
        await client.close();
      }
    }
    const epochMs = (seq: string) => parseInt(parseSeq(seq)!.epoch.slice(0, EPOCH_TIME_DIGITS), 36);

    it("starts the new life's seqs after the old life's even when this server's clock is behind the old primary's", async () => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix });
      const first = (await pod.publish('chat', 'message', body('m1'))) as { seq: string };
      // The old primary's clock was a day ahead of this server's.
      const aheadMs = Date.now() + 86_400_000;
      const aheadEpoch = newEpoch(aheadMs);
      await replicatedMeta(prefix, aheadEpoch);
      const old = formatSeq(aheadEpoch, 1);
      const next = (await pod.publish('chat', 'message', body('m2'))) as { seq: string };
      expect(parseSeq(next.seq)!.epoch).not.toBe(aheadEpoch);
      expect(epochMs(next.seq)).toBe(aheadMs + 1);
      expect(next.seq > old).toBe(true);
      expect(next.seq > first.seq).toBe(true);
      expect(await pod.history('chat', old)).toEqual({ latestSeq: next.seq, recovered: false, publications: [] });
      // The new life goes on in this server's history.
      const later = (await pod.publish('chat', 'message', body('m3'))) as { seq: string };
      expect(parseSeq(later.seq)!.epoch).toBe(parseSeq(next.seq)!.epoch);
    });

    it("starts the new life on this server's clock when that is ahead of the old life's start", async () => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix });
      const oldEpoch = newEpoch(Date.now() - 60_000);
      await replicatedMeta(prefix, oldEpoch);
      const before = Date.now();
      const next = (await pod.publish('chat', 'message', body('m1'))) as { seq: string };
      expect(parseSeq(next.seq)!.epoch).not.toBe(oldEpoch);
      // The test's Redis runs on this machine's clock.
      expect(epochMs(next.seq)).toBeGreaterThanOrEqual(before - 1000);
      expect(epochMs(next.seq)).toBeLessThanOrEqual(Date.now() + 1000);
    });
  });

  describe('connecting', () => {
    it('refuses to start with a clear error naming the URL, without its password', async () => {
      const free = await startRedis();
      const port = free.port;
      await free.stop();
      const engine = new RedisEngine({ ...TEST_REDIS_OPTIONS, url: `redis://user:s3cret@127.0.0.1:${port}`, prefix: 'x:' });
      const failure = engine.connect();
      await expect(failure).rejects.toThrow(`Cannot connect to Redis at redis://user:***@127.0.0.1:${port}`);
      await expect(failure).rejects.toThrow(/ECONNREFUSED/);
      await expect(failure).rejects.not.toThrow(/s3cret/);
      expect(engine.broker.available).toBe(false);
    });

    it("starts though its subscriber's first connects time out behind a busy event loop, trying again as its command connection would", async () => {
      // A second app starting in the same process, or a loaded node, holds the event loop past
      // the connect timeout while the subscriber's TCP connect is under way: the timer fires
      // before the finished connect is seen. In one try, that failed the start.
      const connectTimeoutMs = 100;
      // The command connection's socket is the first; the subscriber's first two are stalled.
      let sockets = 0;
      const stalls = stallConnects(2, connectTimeoutMs * 3, () => ++sockets > 1);
      const engine = new RedisEngine({ ...TEST_REDIS_OPTIONS, commandTimeoutMs: connectTimeoutMs, url: redis.url, prefix: uniquePrefix() });
      try {
        await engine.connect();
        stalls.restore();
        expect(stalls.stalled).toBe(2);
        expect(engine.broker.available).toBe(true);
        const log = new DeliveryLog(engine.broker);
        await engine.broker.subscribe('chat:busy');
        await engine.broker.publish('chat:busy', 'message', body('through the subscriber'));
        await eventually(() => expect(log.publicationsOf('chat:busy').map(textOf)).toEqual(['through the subscriber']));
      } finally {
        stalls.restore();
        await engine.close();
      }
    });

    it('authenticates with the credentials in the URL, and says so when they are wrong', async () => {
      const secured = await startRedis({ password: 'p@ss word' });
      try {
        const good = new RedisEngine({ ...TEST_REDIS_OPTIONS, url: secured.url, prefix: uniquePrefix() });
        await good.connect();
        expect(good.broker.available).toBe(true);
        await good.broker.subscribe('chat');
        await good.close();

        const bad = new RedisEngine({ ...TEST_REDIS_OPTIONS, url: `redis://:wrong-one@127.0.0.1:${secured.port}`, prefix: 'x:' });
        const failure = bad.connect();
        await expect(failure).rejects.toThrow(/WRONGPASS|NOAUTH|invalid password/i);
        await expect(failure).rejects.not.toThrow(/wrong-one/);
      } finally {
        await secured.stop();
      }
    });

    it('fails calls after close with BrokerUnavailableError', async () => {
      const engine = await harness.pod();
      await engine.close();
      await expect(engine.broker.publish('chat', 'message', body('late'))).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(await engine.presence.remove('chat', 'alice', 'c1')).toEqual({ userChanged: false, users: 0 });
    });
  });

  describe('history reads', () => {
    afterEach(() => harness.closeAll());

    it('sends one read for the same room and since asked for together, and answers each caller in full', async () => {
      const { broker: pod } = await harness.pod();
      const first = (await pod.publish('storm', 'message', body('one'))) as { seq: string };
      await pod.publish('storm', 'message', body('two'));
      const client = await inspector();
      const evalCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
      try {
        const before = await evalCalls();
        const reads = await Promise.all(Array.from({ length: 200 }, () => pod.history('storm', first.seq)));
        expect((await evalCalls()) - before).toBe(1);
        for (const read of reads) expect({ recovered: read.recovered, texts: read.publications.map((delivery) => textOf(delivery)) }).toEqual({ recovered: true, texts: ['two'] });
        // Asked for later, a read is a new one: it sees what was published since.
        await pod.publish('storm', 'message', body('three'));
        expect((await pod.history('storm', first.seq)).publications.map((delivery) => textOf(delivery))).toEqual(['two', 'three']);
      } finally {
        await client.close();
      }
    });
  });

  describe('the history list', () => {
    afterEach(() => harness.closeAll());

    it("holds a room's first message in well under 1 KB of Redis memory and keeps exactly HISTORY_SIZE entries", async () => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix, historySize: 3 });
      const history = new RedisKeys(prefix).history('user:ann');
      const client = await inspector();
      try {
        await pod.publish('user:ann', 'notification', body('first'));
        // A stream took about 4.7 KB here: Redis gives every new stream a 4 KB node up front.
        expect(await client.memoryUsage(history)).toBeLessThan(1024);
        for (const text of ['2', '3', '4', '5']) await pod.publish('user:ann', 'notification', body(text));
        expect(await client.lLen(history)).toBe(3);
      } finally {
        await client.close();
      }
    });

    it('does not recover a gap whose entries do not run one after another, though their count is right', async () => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix });
      const seqs: string[] = [];
      for (const text of ['m1', 'm2', 'm3', 'm4']) seqs.push(((await pod.publish('chat', 'message', body(text))) as { seq: string }).seq);
      expect((await pod.history('chat', seqs[0])).publications.map((delivery) => textOf(delivery))).toEqual(['m2', 'm3', 'm4']);
      const client = await inspector();
      try {
        // m3's entry gone: the three newest entries are now m4, m2 and m1, three for a gap of three.
        const key = new RedisKeys(prefix).history('chat');
        await client.lRem(key, 1, (await client.lIndex(key, 1))!);
      } finally {
        await client.close();
      }
      expect(await pod.history('chat', seqs[0])).toEqual({ latestSeq: seqs[3], recovered: false, publications: [] });
    });

    it('never replays an entry of an earlier life, though its position fits the gap', async () => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix });
      for (const text of ['old1', 'old2']) await pod.publish('chat', 'message', body(text));
      const client = await inspector();
      const laterEpoch = '00000000zlater';
      try {
        // A new life started by a pod of an earlier version, which kept history elsewhere: it left
        // this list alone and published two messages the list never got.
        await client.hSet(`${prefix}{chat}:meta`, { epoch: laterEpoch, position: '2' });
      } finally {
        await client.close();
      }
      const third = (await pod.publish('chat', 'message', body('new3'))) as { seq: string };
      expect(third.seq).toBe(formatSeq(laterEpoch, 3));
      // The list's two newest entries are new3 and the earlier life's old2, at positions 3 and 2.
      expect(await pod.history('chat', formatSeq(laterEpoch, 1))).toEqual({ latestSeq: third.seq, recovered: false, publications: [] });
      expect((await pod.history('chat', formatSeq(laterEpoch, 2))).publications.map((delivery) => textOf(delivery))).toEqual(['new3']);
    });

    it.each(['publish', 'history read'])("deletes the earlier versions' history stream when a %s starts a room's new life", async (starter) => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix });
      await pod.publish('chat', 'message', body('old1'));
      const keys = new RedisKeys(prefix);
      const client = await inspector();
      try {
        // A pod of an earlier version appended to its stream with explicit positions; a stream
        // left from this life would refuse its appends in the next one (and be replayed by it).
        await client.xAdd(keys.legacyHistoryStream('chat'), '1-1', { event: 'message', body: '{}' });
        await pod.publish('chat', 'message', body('same life'));
        expect(await client.exists(keys.legacyHistoryStream('chat'))).toBe(1);
        await client.del(keys.meta('chat'));
        if (starter === 'publish') await pod.publish('chat', 'message', body('new life'));
        else await pod.history('chat');
        expect(await client.exists(keys.legacyHistoryStream('chat'))).toBe(0);
      } finally {
        await client.close();
      }
    });
  });

  describe('rejoins answered by a pod that follows the room', () => {
    afterEach(() => harness.closeAll());

    it('keep exactly the history window (section 7): a since further back than HISTORY_SIZE is not recovered, though the pod still holds it', async () => {
      const { broker: pod } = await harness.pod({ historySize: 2, replaySize: 32 });
      const log = new DeliveryLog(pod);
      await pod.subscribe('window');
      for (const text of ['m1', 'm2', 'm3', 'm4']) await pod.publish('window', 'message', body(text));
      await eventually(() => expect(log.publicationsOf('window')).toHaveLength(4));
      const [m1, m2] = log.seqsOf('window');
      // Two back is inside the window: replayed, whoever answers.
      const inside = await pod.history('window', m2);
      expect({ recovered: inside.recovered, texts: inside.publications.map((delivery) => textOf(delivery)) }).toEqual({ recovered: true, texts: ['m3', 'm4'] });
      // Three back is outside it: the pod holds m2 to m4, but the contract's window is the last two.
      const outside = await pod.history('window', m1);
      expect(outside.recovered).toBe(false);
    });
  });

  describe('a rejoin of a room followed just now', () => {
    afterEach(() => harness.closeAll());

    /** A personal room on a shared channel (the default), and on a channel of its own, as on a Cluster. */
    const CHANNELS = [
      ['on a shared channel', undefined],
      ['on a channel of its own (REDIS_PERSONAL_CHANNELS=0)', 0],
    ] as const;

    it.each(CHANNELS)("is answered without waiting for the batch window that reads where the room stands (a reconnect's personal room, right after welcome), %s", async (_, personalChannels) => {
      const prefix = uniquePrefix();
      // A window no test outlasts: the rejoin below is answered only if its anchor read is sent at once.
      const { broker: pod } = await harness.pod({ prefix, batchWindowMs: 3_600_000, personalChannels });
      const { broker: publisher } = await harness.pod({ prefix, personalChannels });
      const first = (await publisher.publish('user:ann', 'notification', body('first'))) as { seq: string };
      await publisher.publish('user:ann', 'notification', body('second'));
      await pod.subscribe('user:ann');
      const rejoin = await pod.history('user:ann', first.seq);
      expect({ recovered: rejoin.recovered, texts: rejoin.publications.map((delivery) => textOf(delivery)) }).toEqual({ recovered: true, texts: ['second'] });
      // Where the room stands is known on the pod now: the next rejoin reads nothing from Redis.
      expect(pod.historyNow('user:ann', rejoin.latestSeq ?? undefined)).toEqual({ latestSeq: rejoin.latestSeq, recovered: true, publications: [] });
    });

    it.each(CHANNELS)('delivers a publication that arrives before where the room stands is known without waiting for the batch window, %s', async (_, personalChannels) => {
      const prefix = uniquePrefix();
      const { broker: pod } = await harness.pod({ prefix, batchWindowMs: 3_600_000, personalChannels });
      const { broker: publisher } = await harness.pod({ prefix, personalChannels });
      await publisher.publish('user:bob', 'notification', body('before'));
      const log = new DeliveryLog(pod);
      await pod.subscribe('user:bob');
      await publisher.publish('user:bob', 'notification', body('after'));
      await eventually(() => expect(log.publicationsOf('user:bob').map((delivery) => textOf(delivery))).toEqual(['after']));
    });
  });

  describe('command deadline', () => {
    afterEach(() => harness.closeAll());

    it('fails what waits on a Redis that stopped answering, and serves again once it answers', async () => {
      const frozen = await startRedis();
      const engine = new RedisEngine({ ...TEST_REDIS_OPTIONS, url: frozen.url, prefix: uniquePrefix(), commandTimeoutMs: 300 });
      const { broker } = engine;
      try {
        await engine.connect();
        frozen.pause();
        const calls = [broker.publish('chat', 'message', body('stuck')), broker.history('chat'), broker.subscribe('other')];
        for (const call of calls) await expect(call).rejects.toBeInstanceOf(BrokerUnavailableError);
        await expect(calls[0]).rejects.toThrow(/did not answer publish within 300 ms/);
        frozen.resume();
        await eventually(async () => expect(await broker.publish('chat', 'message', body('later'))).toMatchObject({ duplicate: false }));
      } finally {
        frozen.resume();
        await engine.close();
        await frozen.stop();
      }
    });

    it('answers every call of a burst far bigger than the deadline can cover one by one', async () => {
      const { presence } = await harness.pod({ commandTimeoutMs: 200 });
      // Thousands of scripts queued at once: the last replies come long after 200 ms, but replies keep coming.
      const burst = Array.from({ length: 4000 }, (_, i) => presence.add('crowd', `u${i}`, `c${i}`));
      const results = await Promise.allSettled(burst);
      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      // A health PING behind the burst may have missed 200 ms on a busy machine: Redis counts as
      // lost until the next one answers in time, which is soon.
      await eventually(async () => expect((await presence.snapshot('crowd')).connections).toBe(4000));
    });
  });
});
