import { createClient } from 'redis';
import { BrokerUnavailableError } from '../../src/broker/broker';
import { RedisBroker } from '../../src/broker/redis.broker';
import { parseSeq } from '../../src/broker/seq';
import { eventually } from '../support/eventually';
import { RedisServer, startRedis } from '../support/redis-server';
import { Inbox, brokerContract } from './broker.contract';
import { TEST_REDIS_OPTIONS, redisHarness, uniquePrefix } from './redis-harness';

let redis: RedisServer;
const harness = redisHarness(() => redis);
const body = (text: string) => ({ text });
const textOf = (frame: string) => (JSON.parse(frame) as { data: { text: string } }).data.text;

/** A plain client for looking at Redis from outside the brokers. */
async function inspector() {
  const client = createClient({ url: redis.url });
  client.on('error', () => undefined); // Tests that stop Redis expect this client to lose it too.
  await client.connect();
  return client;
}

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('RedisBroker', () => {
  brokerContract(harness);

  describe('subscriptions', () => {
    afterEach(() => harness.closeAll());

    it('holds a Redis subscription exactly while the room is subscribed', async () => {
      const prefix = uniquePrefix();
      const broker = await harness.pod({ prefix });
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

    it('namespaces keys and channels with the prefix', async () => {
      const prefix = uniquePrefix();
      const broker = await harness.pod({ prefix });
      await broker.publish('chat', 'notification', body('n1'), { dedupKey: 'n1:chat' });
      await broker.addPresence('chat', 'alice', 'c1');
      const client = await inspector();
      try {
        const keys = await client.keys('*');
        const ours = keys.filter((key) => key.startsWith(prefix));
        expect(ours.length).toBeGreaterThanOrEqual(5);
        const other = await harness.pod({ prefix: uniquePrefix() });
        // The other prefix's room has no publications: its history life starts at position 0.
        const elsewhere = await other.history('chat');
        expect(parseSeq(elsewhere.latestSeq!)!.position).toBe(0);
        expect(elsewhere.publications).toEqual([]);
        expect(await other.presence('chat')).toEqual({ users: [], connections: 0 });
      } finally {
        await client.close();
      }
    });
  });

  describe('presence across pods', () => {
    afterEach(() => harness.closeAll());

    it("forgets a dead pod's entries after the presence TTL, says so once, and keeps a live pod's", async () => {
      const prefix = uniquePrefix();
      // A pod that never refreshes stands for one that died without cleaning up.
      const dead = await harness.pod({ prefix, presenceTtlMs: 400, presenceRefreshMs: 60_000 });
      const live = await harness.pod({ prefix, presenceTtlMs: 400, presenceRefreshMs: 100 });
      const expired: [string, string, number][] = [];
      for (const pod of [dead, live]) pod.onPresenceExpired((room, user, users) => expired.push([room, user, users]));
      await dead.addPresence('chat', 'alice', 'c1');
      await dead.addPresence('chat', 'alice', 'c4');
      await live.addPresence('chat', 'bob', 'c2');
      // The live pod's own refresh notices, once, that alice's last connection is gone.
      await eventually(() => expect(expired).toEqual([['chat', 'alice', 1]]), 3000);
      expect(await live.presence('chat')).toEqual({ users: ['bob'], connections: 1 });
      // Well past the TTL, bob is still there because his pod refreshes him.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await live.presence('chat')).toEqual({ users: ['bob'], connections: 1 });
      // alice's expiry was her last connection leaving: joining again is a first join.
      expect(await live.addPresence('chat', 'alice', 'c3')).toEqual({ userChanged: true, users: 2 });
    });

    it("removes a closed pod's entries at once", async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix });
      const b = await harness.pod({ prefix });
      await a.addPresence('chat', 'alice', 'c1');
      await a.addPresence('news', 'alice', 'c1');
      await b.addPresence('chat', 'bob', 'c2');
      await a.close();
      expect(await b.presence('chat')).toEqual({ users: ['bob'], connections: 1 });
      expect(await b.presence('news')).toEqual({ users: [], connections: 0 });
    });
  });

  describe('losing Redis', () => {
    afterEach(() => harness.closeAll());

    it('turns unavailable at once, fails calls fast, and recovers subscriptions and presence after a restart', async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix });
      const b = await harness.pod({ prefix });
      const changes: boolean[] = [];
      a.onAvailabilityChange((available) => changes.push(available));
      const inbox = new Inbox(a);
      await a.subscribe('chat');
      await a.addPresence('chat', 'alice', 'c1');
      const before = (await b.publish('chat', 'message', body('before'))) as { seq: string };
      await eventually(() => expect(inbox.of('chat')).toHaveLength(1));

      await redis.kill();
      await eventually(() => expect(a.available).toBe(false));
      expect(changes).toEqual([false]);
      const started = Date.now();
      await expect(a.publish('chat', 'message', body('lost'))).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.history('chat')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.subscribe('other')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.addPresence('chat', 'bob', 'c9')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(a.presence('chat')).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(Date.now() - started).toBeLessThan(1000);
      // Leaving while Redis is down is remembered: c9 is not re-registered later.
      await a.removePresence('chat', 'bob', 'c9').catch(() => undefined);

      await redis.restart();
      await eventually(() => expect(a.available && b.available).toBe(true), 5000);
      expect(changes).toEqual([false, true]);

      // Subscriptions came back without anyone subscribing again.
      const after = (await b.publish('chat', 'message', body('after'))) as { seq: string };
      // The history went with Redis, so this pod cannot prove its members missed nothing while it
      // was away: they are told so (section 4's recovery) before anything of the new history.
      await eventually(() => expect(inbox.of('chat')).toHaveLength(3));
      const [first, gap, last] = inbox.of('chat');
      expect(textOf(first.frame)).toBe('before');
      expect(JSON.parse(gap.frame)).toEqual({ event: 'recovery', data: { room: 'chat', seq: expect.any(String), recovered: false } });
      expect(gap.seq).toBeUndefined();
      expect(textOf(last.frame)).toBe('after');
      // A new epoch, so the old seq cannot be recovered by a join either.
      expect(parseSeq(after.seq)!.epoch).not.toBe(parseSeq(before.seq)!.epoch);
      expect((await b.history('chat', before.seq)).recovered).toBe(false);
      // Presence was registered again.
      expect(await b.presence('chat')).toEqual({ users: ['alice'], connections: 1 });
    });

    it('closes promptly while Redis is down', async () => {
      const outage = await startRedis();
      const broker = new RedisBroker({ ...TEST_REDIS_OPTIONS, url: outage.url, prefix: uniquePrefix() });
      await broker.connect();
      await broker.subscribe('chat');
      await broker.addPresence('chat', 'alice', 'c1');
      await outage.kill();
      await eventually(() => expect(broker.available).toBe(false));
      const started = Date.now();
      await broker.close();
      expect(Date.now() - started).toBeLessThan(1000);
      await outage.stop();
    });

    it('replaces a lost subscriber and delivers what the pod missed meanwhile, once and in order', async () => {
      const prefix = uniquePrefix();
      const a = await harness.pod({ prefix });
      const b = await harness.pod({ prefix });
      const inbox = new Inbox(a);
      await a.subscribe('chat');
      await a.subscribe('quiet');
      await b.publish('chat', 'message', body('m1'));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(1));

      const client = await inspector();
      try {
        // Only the subscriber connections die; every command connection stays up.
        await client.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        const published: string[] = [];
        for (let index = 2; index <= 6; index++) {
          await b.publish('chat', 'message', body(`m${index}`));
          published.push(`m${index}`);
        }
        await b.publish('quiet', 'message', body('q1'));
        await eventually(() => expect(inbox.of('chat').map((delivery) => textOf(delivery.frame))).toEqual(['m1', ...published]), 5000);
        await eventually(() => expect(inbox.of('quiet').map((delivery) => textOf(delivery.frame))).toEqual(['q1']), 5000);
        await b.publish('chat', 'message', body('m7'));
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

  describe('connecting', () => {
    it('refuses to start with a clear error naming the URL, without its password', async () => {
      const free = await startRedis();
      const port = free.port;
      await free.stop();
      const broker = new RedisBroker({ ...TEST_REDIS_OPTIONS, url: `redis://user:s3cret@127.0.0.1:${port}`, prefix: 'x:' });
      const failure = broker.connect();
      await expect(failure).rejects.toThrow(`Cannot connect to Redis at redis://user:***@127.0.0.1:${port}`);
      await expect(failure).rejects.toThrow(/ECONNREFUSED/);
      await expect(failure).rejects.not.toThrow(/s3cret/);
      expect(broker.available).toBe(false);
    });

    it('authenticates with the credentials in the URL, and says so when they are wrong', async () => {
      const secured = await startRedis({ password: 'p@ss word' });
      try {
        const good = new RedisBroker({ ...TEST_REDIS_OPTIONS, url: secured.url, prefix: uniquePrefix() });
        await good.connect();
        expect(good.available).toBe(true);
        await good.subscribe('chat');
        await good.close();

        const bad = new RedisBroker({ ...TEST_REDIS_OPTIONS, url: `redis://:wrong-one@127.0.0.1:${secured.port}`, prefix: 'x:' });
        const failure = bad.connect();
        await expect(failure).rejects.toThrow(/WRONGPASS|NOAUTH|invalid password/i);
        await expect(failure).rejects.not.toThrow(/wrong-one/);
      } finally {
        await secured.stop();
      }
    });

    it('fails calls after close with BrokerUnavailableError', async () => {
      const broker = await harness.pod();
      await broker.close();
      await expect(broker.publish('chat', 'message', body('late'))).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(await broker.removePresence('chat', 'alice', 'c1')).toEqual({ userChanged: false, users: 0 });
    });
  });

  describe('history reads', () => {
    afterEach(() => harness.closeAll());

    it('sends one read for the same room and since asked for together, and answers each caller in full', async () => {
      const pod = await harness.pod();
      const first = (await pod.publish('storm', 'message', body('one'))) as { seq: string };
      await pod.publish('storm', 'message', body('two'));
      const client = await inspector();
      const evalCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
      try {
        const before = await evalCalls();
        const reads = await Promise.all(Array.from({ length: 200 }, () => pod.history('storm', first.seq)));
        expect((await evalCalls()) - before).toBe(1);
        for (const read of reads) expect({ recovered: read.recovered, texts: read.publications.map((delivery) => textOf(delivery.frame)) }).toEqual({ recovered: true, texts: ['two'] });
        // Asked for later, a read is a new one: it sees what was published since.
        await pod.publish('storm', 'message', body('three'));
        expect((await pod.history('storm', first.seq)).publications.map((delivery) => textOf(delivery.frame))).toEqual(['two', 'three']);
      } finally {
        await client.close();
      }
    });
  });

  describe('command deadline', () => {
    afterEach(() => harness.closeAll());

    it('fails what waits on a Redis that stopped answering, and serves again once it answers', async () => {
      const frozen = await startRedis();
      const broker = new RedisBroker({ ...TEST_REDIS_OPTIONS, url: frozen.url, prefix: uniquePrefix(), commandTimeoutMs: 300 });
      try {
        await broker.connect();
        frozen.pause();
        const calls = [broker.publish('chat', 'message', body('stuck')), broker.history('chat'), broker.subscribe('other')];
        for (const call of calls) await expect(call).rejects.toBeInstanceOf(BrokerUnavailableError);
        await expect(calls[0]).rejects.toThrow(/did not answer publish within 300 ms/);
        frozen.resume();
        await eventually(async () => expect(await broker.publish('chat', 'message', body('later'))).toMatchObject({ duplicate: false }));
      } finally {
        frozen.resume();
        await broker.close();
        await frozen.stop();
      }
    });

    it('answers every call of a burst far bigger than the deadline can cover one by one', async () => {
      const broker = await harness.pod({ commandTimeoutMs: 200 });
      // Thousands of scripts queued at once: the last replies come long after 200 ms, but replies keep coming.
      const burst = Array.from({ length: 4000 }, (_, i) => broker.addPresence('crowd', `u${i}`, `c${i}`));
      const results = await Promise.allSettled(burst);
      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      expect((await broker.presence('crowd')).connections).toBe(4000);
    });
  });
});
