import RedisClusterSlots from '@redis/client/dist/lib/cluster/cluster-slots';
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/broker/engine';
import { ClusterRedisConnection } from '../../src/broker/redis/cluster.connection';
import { RECONNECT_DEFAULTS } from '../../src/broker/redis/redis.client';
import { StartTries } from '../../src/broker/redis/start-tries';
import { HooksRedisConnection } from '../../src/hooks/webhooks/hooks-redis.connection';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { expectExactlyOnce, keepPublishing as keepPublishingOn, RetryingPublisher } from '../support/failover-publisher';
import { expectRejoin } from '../support/rejoin';
import { RedisCluster, startRedisCluster } from '../support/redis-cluster';
import { RedisProcess, freeClusterPorts, spawnRedisProcess } from '../support/redis-process';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { ServerFrame, TestClient, connectClient } from '../support/ws-client';

/**
 * Three pods on a private Redis Cluster (3 primaries, 3 replicas): rooms live on the primary that
 * owns their hash slot, room traffic is sharded pub/sub, and a primary killed with -9 fails over
 * without losing an acknowledged notification. The cluster is started once for the file; the
 * failover test runs last, since it leaves one shard without a replica.
 */
/**
 * A 5 s heartbeat: the pods and their clients share this process, so a stall of it (a primary
 * killed, three pods resyncing, another suite beside it on a busy machine) delays the clients'
 * pongs as much as the pods' judging, and at 1 s a pod dropped a live member (1006) in a CI run.
 * Nothing here waits on the heartbeat (nor on presence expiry, 2 x the heartbeat).
 */
const POD_ENV = { HEARTBEAT_MS: '5000', REDIS_COMMAND_TIMEOUT_MS: '1500', REDIS_REPLICA_WAIT_MS: '500' };
const PASSWORD = 'cluster-s3cret';
const user = (sub: string) => signToken({ sub });
const notify = (pod: TestApp, room: string, text: string, id?: string) =>
  publish(pod.url, { rooms: [room], type: 'test', payload: { text }, ...(id === undefined ? {} : { id }) });
const framesIn = (client: TestClient, room: string, event = 'notification') => client.all(event).filter((frame: ServerFrame) => frame.data.room === room);
const texts = (client: TestClient, room: string) => framesIn(client, room).map((frame) => frame.data.payload.text as string);
/** The slot of a room's keys and channel: they share the hash tag `{room}`. */
const slotOf = (room: string) => calculateSlot(`{${room}}`);
/** node-redis's slot map inside each cluster client. */
type ClusterSlots = (typeof RedisClusterSlots)['prototype'];

describe('pods on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let pods: TestApp[];
  const prefix = `t${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    cluster = await startRedisCluster({ password: PASSWORD });
    pods = await Promise.all([0, 1, 2].map(() => createTestApp({ ...POD_ENV, REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: prefix })));
  }, 60_000);
  /** Publishers still running when a test failed midway are stopped before the pods close. */
  const publishers: Array<{ stop(): Promise<void> }> = [];
  /** Pods a test started besides the three. */
  const startedPods: TestApp[] = [];
  afterAll(async () => {
    // Only ending them matters here: a test that awaited its publisher has seen its failure.
    await Promise.all(publishers.map((publisher) => publisher.stop().catch(() => undefined)));
    await Promise.all([...(pods ?? []), ...startedPods].map((pod) => pod.close()));
    await cluster?.stop();
  });

  /** Rooms whose slots are on at least two different primaries. */
  async function roomsOnTwoPrimaries(base: string): Promise<string[]> {
    const rooms: string[] = [];
    const owners = new Set<number>();
    for (let index = 0; owners.size < 2 || rooms.length < 4; index++) {
      const room = `${base}-${index}`;
      rooms.push(room);
      owners.add((await cluster.primaryOf(slotOf(room))).port);
    }
    return rooms;
  }

  it('delivers a notification published on any pod to members on every pod exactly once, over sharded pub/sub only', async () => {
    await Promise.all(cluster.nodes.map((node) => cluster.cli(node, ['CONFIG', 'RESETSTAT'])));
    const rooms = (await roomsOnTwoPrimaries('public:spread')).slice(0, 4);
    const owners = new Set(await Promise.all(rooms.map(async (room) => (await cluster.primaryOf(slotOf(room))).port)));
    expect(owners.size).toBeGreaterThanOrEqual(2);

    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`member${index}`))));
    for (const member of members) for (const room of rooms) await member.join(room);
    for (const [index, room] of rooms.entries()) {
      for (const [podIndex, pod] of pods.entries()) expect(await notify(pod, room, `${room}/${podIndex}`)).toMatchObject({ status: 202 });
      const expected = pods.map((_, podIndex) => `${room}/${podIndex}`);
      await eventually(() => members.forEach((member) => expect(texts(member, room)).toEqual(expected)), 10_000);
      expect(index).toBeLessThan(rooms.length);
    }

    // Room traffic never used classic PUBLISH, which a Cluster broadcasts to every node.
    const stats = await Promise.all(cluster.nodes.map((node) => cluster.cli(node, ['INFO', 'commandstats'])));
    expect(stats.filter((text) => /cmdstat_publish:calls=[1-9]/.test(text))).toEqual([]);
    expect(stats.some((text) => /cmdstat_spublish:calls=[1-9]/.test(text))).toBe(true);
    await Promise.all(members.map((member) => member.close()));
  });

  it('gives one order per room across concurrent publishers on different pods', async () => {
    const room = 'public:cluster-order';
    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`order${index}`))));
    for (const member of members) await member.join(room);
    const perPod = 10;
    await Promise.all(
      pods.map(async (pod, podIndex) => {
        const results = await Promise.all(Array.from({ length: perPod }, (_, n) => notify(pod, room, `p${podIndex}-${n}`)));
        for (const result of results) expect(result.status).toBe(202);
      }),
    );
    await eventually(() => members.forEach((member) => expect(framesIn(member, room)).toHaveLength(perPod * pods.length)), 10_000);
    const reference = framesIn(members[0], room).map((frame) => frame.data.seq);
    for (const member of members) expect(framesIn(member, room).map((frame) => frame.data.seq)).toEqual(reference);
    await Promise.all(members.map((member) => member.close()));
  });

  it('recovers with since, shares presence, de-duplicates a repeated id and keeps inbox read state across pods', async () => {
    const room = 'public:cluster-state';
    const first = await connectClient(pods[0].wsUrl, user('alice'));
    await first.join(room);
    expect((await notify(pods[1], room, 'one')).status).toBe(202);
    const seen = await first.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'one');
    expect((await notify(pods[2], room, 'two')).status).toBe(202);
    expect((await notify(pods[2], room, 'three')).status).toBe(202);

    const late = await connectClient(pods[2].wsUrl, user('bob'));
    const joined = await late.request('join', { room, since: seen.data.seq });
    expect(joined.data.recovered).toBe(true);
    await eventually(() => expect(texts(late, room)).toEqual(['two', 'three']));

    const presence = await http('GET', `${pods[1].url}/v1/rooms/${room}/presence`, { token: publisherToken() });
    expect(presence.status).toBe(200);
    expect((presence.body as { users: string[] }).users.sort()).toEqual(['alice', 'bob']);

    const id = randomUUID();
    expect((await notify(pods[0], room, 'once', id)).status).toBe(202);
    expect((await notify(pods[1], room, 'once', id)).status).toBe(202);
    await eventually(() => expect(texts(first, room).filter((text) => text === 'once')).toHaveLength(1));

    const inboxUser = 'carol';
    const personal = `user:${inboxUser}`;
    expect((await publish(pods[0].url, { rooms: [personal], type: 'test', payload: { text: 'for carol' } })).status).toBe(202);
    const token = user(inboxUser);
    const page = await eventually(async () => {
      const result = await http('GET', `${pods[1].url}/v1/inbox`, { token });
      expect((result.body as { items: unknown[] }).items).toHaveLength(1);
      return result.body as { items: Array<{ id: string }>; unread: number };
    });
    expect(page.unread).toBe(1);
    expect((await http('POST', `${pods[2].url}/v1/inbox/read`, { token, body: { ids: [page.items[0].id] } })).status).toBeLessThan(300);
    const after = await http('GET', `${pods[0].url}/v1/inbox`, { token });
    expect((after.body as { unread: number }).unread).toBe(0);
    await Promise.all([first.close(), late.close()]);
  });

  /** A retrying publisher over every pod, stopped after each test whatever happens. */
  function keepPublishing(room: string): RetryingPublisher {
    const publisher = keepPublishingOn(pods, room);
    publishers.push(publisher);
    return publisher;
  }

  it('follows a busy room whose slot migrates to another primary, delivering every acknowledged notification once', async () => {
    const room = 'public:cluster-moving';
    const slot = slotOf(room);
    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`moving${index}`))));
    for (const member of members) await member.join(room);
    const publisher = keepPublishing(room);
    await eventually(() => expect(publisher.acknowledged.length).toBeGreaterThan(5), 10_000);

    const source = await cluster.primaryOf(slot);
    const target = (await cluster.primaries()).find((node) => node.port !== source.port)!;
    await cluster.migrateSlot(slot, target);
    expect((await cluster.primaryOf(slot)).port).toBe(target.port);
    // Every pod's subscription followed the slot: three subscribers on the new primary, none left on the old.
    const channel = `${prefix}{${room}}:channel`;
    await eventually(async () => {
      expect(await cluster.cli(target, ['PUBSUB', 'SHARDNUMSUB', channel])).toBe(`${channel}\n3\n`);
      expect(await cluster.cli(source, ['PUBSUB', 'SHARDNUMSUB', channel])).toBe(`${channel}\n0\n`);
    }, 10_000);
    const afterMove = publisher.acknowledged.length;
    await eventually(() => expect(publisher.acknowledged.length).toBeGreaterThan(afterMove + 5), 20_000);
    await publisher.stop();

    await expectExactlyOnce(members, room, publisher.acknowledged);
    // The room's traffic now goes out on its new primary, still sharded.
    expect(await cluster.cli(target, ['INFO', 'commandstats'])).toMatch(/cmdstat_spublish:calls=[1-9]/);
    await Promise.all(members.map((member) => member.close()));
  }, 60_000);

  it('holds a publish to a room whose slot is midway through a migration until the slot has moved, instead of refusing it', async () => {
    // A long command timeout: the retries last that long, and this test moves the slot meanwhile.
    const pod = await createTestApp({ ...POD_ENV, REDIS_COMMAND_TIMEOUT_MS: '10000', REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: prefix });
    try {
      const room = 'public:cluster-midway';
      const slot = slotOf(room);
      const member = await connectClient(pod.wsUrl, user('midway'));
      await member.join(room);
      expect((await notify(pod, room, 'before')).status).toBe(202);
      const source = await cluster.primaryOf(slot);
      const target = (await cluster.primaries()).find((node) => node.port !== source.port)!;
      const idOf = async (node: RedisProcess) => (await cluster.cli(node, ['CLUSTER', 'MYID'])).trim();
      const tryAgains = async () => Number(/errorstat_TRYAGAIN:count=(\d+)/.exec(await cluster.cli(source, ['INFO', 'errorstats']))?.[1] ?? 0);
      const before = await tryAgains();
      await cluster.cli(target, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', await idOf(source)]);
      await cluster.cli(source, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', await idOf(target)]);
      // The room's keys are all on the source; its de-duplication key for this id is nowhere yet.
      const publishing = notify(pod, room, 'midway', randomUUID());
      await eventually(async () => expect(await tryAgains()).toBeGreaterThan(before), 5000);
      await cluster.migrateSlot(slot, target);
      expect((await publishing).status).toBe(202);
      await eventually(() => expect(texts(member, room)).toEqual(['before', 'midway']), 10_000);
      await member.close();
    } finally {
      await pod.close();
    }
  }, 60_000);

  /** One room on each current primary. */
  async function roomOnEachPrimary(base: string): Promise<string[]> {
    const primaries = (await cluster.primaries()).length;
    const roomByPrimary = new Map<number, string>();
    for (let index = 0; roomByPrimary.size < primaries; index++) {
      const room = `${base}-${index}`;
      const port = (await cluster.primaryOf(slotOf(room))).port;
      if (!roomByPrimary.has(port)) roomByPrimary.set(port, room);
    }
    return [...roomByPrimary.values()];
  }

  /** How many primary changes each pod has followed (herald_redis_failovers_total). */
  async function failoversFollowed(): Promise<number[]> {
    return Promise.all(
      pods.map(async (pod) => Number(/^herald_redis_failovers_total (\d+)$/m.exec(await (await fetch(`${pod.url}/metrics`)).text())?.[1] ?? 0)),
    );
  }

  /**
   * Waits until every pod has followed a failover since `before` (failoversFollowed), then is
   * ready. A pod stays ready in good faith until its health check finds the stopped primary
   * silent, and the cluster may promote the replica before that: checked for readiness alone,
   * the pods could all still be answering from before the freeze, and the publishes that
   * followed were refused (503, the pod now unavailable) for as long as noticing, rediscovering
   * the slots and resyncing took. About 3 s here; on a loaded CI machine it outlasted the
   * delivery check's 10 s.
   */
  async function expectEveryPodFollowedFailover(before: number[], timeoutMs: number): Promise<void> {
    await eventually(async () => (await failoversFollowed()).forEach((count, index) => expect(count).toBeGreaterThan(before[index])), timeoutMs, 200);
    await expectEveryPodReady(timeoutMs);
  }

  /** Every pod's subscriber to every primary is up, and no primary is silent (herald_redis_shard_subscriber_up). */
  async function expectEveryShardServed(timeoutMs: number): Promise<void> {
    await eventually(async () => {
      for (const pod of pods) expect(await (await fetch(`${pod.url}/metrics`)).text()).not.toMatch(/^herald_redis_shard_subscriber_up\{[^}]*\} 0$/m);
    }, timeoutMs, 200);
  }

  async function expectEveryPodReady(timeoutMs: number): Promise<void> {
    await eventually(async () => {
      for (const pod of pods) expect((await http('GET', `${pod.url}/readyz`)).status).toBe(200);
    }, timeoutMs, 200);
  }

  /**
   * Publishes `tag` through every pod into every room and waits until every member has each.
   * On a shard whose replica was promoted and has no replica yet, REDIS_MIN_REPLICAS=1 answers
   * 503 though the notification was published (section 7): delivery is what this checks, and a
   * retry with the same id must not deliver it twice (expectExactlyOnce, later).
   */
  async function expectDeliveryInEveryRoom(members: TestClient[], rooms: string[], tag: string): Promise<void> {
    for (const room of rooms) {
      for (const [podIndex, pod] of pods.entries()) {
        const text = `${tag}/${podIndex}`;
        const id = randomUUID();
        await eventually(async () => {
          expect([202, 503]).toContain((await notify(pod, room, text, id)).status);
          await eventually(() => members.forEach((member) => expect(texts(member, room)).toContain(text)), 2000, 50);
        }, 10_000, 0);
      }
    }
  }

  /** A room whose slot `primary` serves. */
  async function roomServedBy(primary: RedisProcess, base: string): Promise<string> {
    for (let index = 0; ; index++) {
      const room = `${base}-${index}`;
      if ((await cluster.primaryOf(slotOf(room))).port === primary.port) return room;
    }
  }

  it('serves the other shards\' rooms while one shard stops whole, refuses only its own, and catches those up once it is back', async () => {
    // The primary stopped while its replica may not take over: the shard stays out for as long as
    // the test needs, and comes back as it was. Redis itself keeps the other shards serving only
    // without full coverage: by default every node refuses every query once one shard is marked failed.
    const configure = (nodes: RedisProcess[], name: string, value: string) => Promise.all(nodes.map((node) => cluster.cli(node, ['CONFIG', 'SET', name, value])));
    const running = () => cluster.nodes.filter((node) => node.running);
    const rooms = await roomOnEachPrimary('public:cluster-shard-out');
    const [stoppedRoom, ...servedRooms] = rooms;
    const primary = await cluster.primaryOf(slotOf(stoppedRoom));
    const replicas = await cluster.replicasOf(primary);
    const servedPrimary = await cluster.primaryOf(slotOf(servedRooms[0]));
    const [newStoppedRoom, newServedRoom] = [await roomServedBy(primary, 'public:shard-out-new'), await roomServedBy(servedPrimary, 'public:shard-out-new')];
    // Users whose personal rooms are on the stopped shard and on a served one.
    const [stoppedUser, servedUser] = [await roomServedBy(primary, 'user:shard-out'), await roomServedBy(servedPrimary, 'user:shard-out')].map((room) => room.slice('user:'.length));
    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`shard-out${index}`))));
    for (const member of members) for (const room of rooms) await member.join(room);
    const publisher = keepPublishing(stoppedRoom);
    let started: TestApp | undefined;
    await eventually(() => expect(publisher.acknowledged.length).toBeGreaterThan(3), 10_000);

    await configure(running(), 'cluster-require-full-coverage', 'no');
    await configure(replicas, 'cluster-replica-no-failover', 'yes');
    try {
      await cluster.freeze(primary);
      // Every pod's health check has found the primary silent, and its metrics say which shard.
      await eventually(async () => {
        for (const pod of pods) expect(await (await fetch(`${pod.url}/metrics`)).text()).toContain(`herald_redis_shard_subscriber_up{shard="127.0.0.1:${primary.port}"} 0`);
      }, 20_000, 200);
      for (const pod of pods) expect((await http('GET', `${pod.url}/readyz`)).status).toBe(200);
      // The other shards' rooms: every publish through every pod taken and delivered to all.
      for (let round = 0; round < 3; round++) {
        for (const room of servedRooms) {
          for (const [podIndex, pod] of pods.entries()) {
            const text = `served-${round}/${podIndex}`;
            expect((await notify(pod, room, text)).status).toBe(202);
            await eventually(() => members.forEach((member) => expect(texts(member, room)).toContain(text)), 10_000, 50);
          }
        }
      }
      expect((await members[1].request('join', { room: newServedRoom })).event).toBe('joined');
      // The stopped shard's rooms: refused as unavailable, publishes and joins alike.
      expect((await notify(pods[0], stoppedRoom, 'refused')).status).toBe(503);
      const refusedJoin = await members[2].request('join', { room: newStoppedRoom });
      expect([refusedJoin.event, refusedJoin.data.code]).toEqual(['error', 'unavailable']);
      // A new connection is refused (1013) only for a user whose personal room is on it.
      await expect(connectClient(pods[0].wsUrl, user(stoppedUser))).rejects.toThrow(/Closed \(1013 /);
      await (await connectClient(pods[0].wsUrl, user(servedUser))).close();
      // A pod that starts meanwhile (a rollout, a restart) serves as the running ones do, and is
      // ready well before its start-up budget is spent: once the other primaries answered, the
      // frozen one gets a command timeout more, not the rest of the budget.
      const commandTimeoutMs = 1000;
      const startupBudgetMs = new StartTries(RECONNECT_DEFAULTS.startupAttempts).budgetMs(commandTimeoutMs, RECONNECT_DEFAULTS.reconnectMaxDelayMs);
      const startingMs = Date.now();
      started = await createTestApp({ ...POD_ENV, REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: prefix, REDIS_COMMAND_TIMEOUT_MS: String(commandTimeoutMs) });
      startedPods.push(started);
      expect(Date.now() - startingMs).toBeLessThan(startupBudgetMs);
      expect((await http('GET', `${started.url}/readyz`)).status).toBe(200);
      expect((await notify(started, servedRooms[0], 'from a pod started meanwhile')).status).toBe(202);
      await eventually(() => members.forEach((member) => expect(texts(member, servedRooms[0])).toContain('from a pod started meanwhile')), 10_000, 50);
      expect((await notify(started, stoppedRoom, 'refused')).status).toBe(503);
      // The webhook drivers' connection discovers the cluster at start too: node-redis asks its
      // seeds one after the other from a random one (here the frozen one, the last), with no deadline.
      const seedAt = (node: RedisProcess) => `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${node.port}`;
      const hooks = new HooksRedisConnection({ mode: 'cluster', seeds: [seedAt(servedPrimary), seedAt(primary)] }, commandTimeoutMs);
      const firstSeed = jest.spyOn(Math, 'random').mockReturnValueOnce(0.99);
      try {
        await expect(hooks.connect()).resolves.toBeUndefined();
      } finally {
        firstSeed.mockRestore();
        await hooks.close();
      }
    } finally {
      cluster.thaw(primary);
    }
    await cluster.waitHealthy(30_000);
    // Only once no node flags the primary as failed may its replicas fail over again: one that
    // still saw the flag would take over later, in the middle of another test.
    const flaggedFailed = new RegExp(`127\\.0\\.0\\.1:${primary.port}@\\d+ \\S*fail`);
    await eventually(async () => {
      for (const node of running()) expect(await cluster.cli(node, ['CLUSTER', 'NODES'])).not.toMatch(flaggedFailed);
    }, 30_000, 200);
    await configure(replicas, 'cluster-replica-no-failover', 'no');
    await configure(running(), 'cluster-require-full-coverage', 'yes');
    // Readiness never changed: each pod's metrics say when it found the shard answering again.
    await expectEveryShardServed(20_000);
    const before = publisher.acknowledged.length;
    await eventually(() => expect(publisher.acknowledged.length).toBeGreaterThan(before + 3), 20_000);
    await publisher.stop();
    await expectExactlyOnce(members, stoppedRoom, publisher.acknowledged);
    for (const room of servedRooms) await expectExactlyOnce(members, room, []);
    await Promise.all(members.map((member) => member.close()));
    // The pod that started while the primary was silent serves its shard once it answers: it
    // admits a user whose personal room is there, subscribes a room there and delivers to it.
    const startedPod = started!;
    await eventually(async () => expect(await (await fetch(`${startedPod.url}/metrics`)).text()).not.toMatch(/^herald_redis_shard_subscriber_up\{[^}]*\} 0$/m), 20_000, 200);
    const late = await connectClient(startedPod.wsUrl, user(stoppedUser));
    await late.join(newStoppedRoom);
    expect((await notify(pods[0], newStoppedRoom, 'once the shard is back')).status).toBe(202);
    await eventually(() => expect(texts(late, newStoppedRoom)).toEqual(['once the shard is back']), 10_000, 50);
    await late.close();
    await startedPod.close();
  }, 120_000);

  it('follows a planned failover of a shard it has not used since at its first call there: resubscribes, then writes and admits', async () => {
    // A connection of its own whose health check (which would notice the new primary) runs
    // only when a call needs it.
    const connection = new ClusterRedisConnection({ seeds: cluster.seeds.split(','), commandTimeoutMs: 1500, minReplicas: 0, healthCheckMs: 600_000 });
    await connection.connect();
    const rooms = await roomOnEachPrimary('public:cluster-promoted');
    const primary = await cluster.primaryOf(slotOf(rooms[0]));
    const replica = await cluster.replicaOf(primary);
    let idleUser = 'idle-0';
    for (let index = 1; (await cluster.primaryOf(slotOf(`user:${idleUser}`))).port !== primary.port; index++) idleUser = `idle-${index}`;
    try {
      const extendLife = (room: string) => connection.runReplicated('extend room lives', `${prefix}{${room}}:meta`, (redis) => redis.heraldExtendRoomLives([`${prefix}{${room}}:meta`], 60));
      await cluster.cli(replica, ['CLUSTER', 'FAILOVER']);
      await eventually(async () => expect((await cluster.primaryOf(slotOf(rooms[0]))).port).toBe(replica.port), 20_000, 100);
      // Sent to the old primary and redirected: the connection resubscribes at the new primaries
      // before it writes there (a write there before would begin a room's new life unseen).
      await expect(extendLife(rooms[0])).resolves.toBe(1);
      expect(connection.health.failovers).toBe(1);
      for (const room of rooms.slice(1)) await expect(extendLife(room)).resolves.toBe(1);
    } finally {
      await connection.close();
    }
    // The pods, idle there since the failover, admit a user whose personal room is on that shard
    // at the first try, and take a publish to its rooms.
    await cluster.waitHealthy(30_000);
    const idle = await connectClient(pods[0].wsUrl, user(idleUser));
    await idle.close();
    for (const pod of pods.slice(1)) expect((await notify(pod, rooms[0], 'after the failover')).status).toBe(202);
    await expectEveryShardServed(20_000);
  }, 90_000);

  it('serves every room again while a frozen primary stays stopped past its failover, and loses or doubles nothing when it wakes', async () => {
    // SIGSTOP, as a paused VM: the primary's sockets stay open and the kernel still accepts
    // connections to it, so nothing fails fast; only deadlines notice. Without bounded slot
    // discovery started from a node that answers, about half the pods stayed unready in every
    // room for as long as the node stayed stopped.
    const rooms = await roomOnEachPrimary('public:cluster-frozen');
    const primary = await cluster.primaryOf(slotOf(rooms[0]));
    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`frozen${index}`))));
    for (const member of members) for (const room of rooms) await member.join(room);
    const roomPublishers = rooms.map((room) => keepPublishing(room));
    await eventually(() => roomPublishers.forEach((publisher) => expect(publisher.acknowledged.length).toBeGreaterThan(3)), 10_000);

    const followed = await failoversFollowed();
    await cluster.freeze(primary);
    try {
      await cluster.waitHealthy(30_000); // The replica took over; the old primary is still stopped.
      await expectEveryPodFollowedFailover(followed, 20_000);
      await expectDeliveryInEveryRoom(members, rooms, 'while-frozen');
    } finally {
      cluster.thaw(primary);
    }
    await cluster.waitHealthy(30_000);
    await expectEveryPodReady(20_000);
    const before = roomPublishers.map((publisher) => publisher.acknowledged.length);
    await eventually(() => roomPublishers.forEach((publisher, index) => expect(publisher.acknowledged.length).toBeGreaterThan(before[index] + 3)), 20_000);
    await Promise.all(roomPublishers.map((publisher) => publisher.stop()));
    for (const [index, room] of rooms.entries()) await expectExactlyOnce(members, room, roomPublishers[index].acknowledged);
    await Promise.all(members.map((member) => member.close()));
  }, 120_000);

  it('replaces a cluster client whose slot refresh never settles, so a frozen primary holds no pod unready either way', async () => {
    // What node-redis does when its refresh asks the frozen node (it has no deadline, and every
    // later refresh gets the same promise), made certain: every refresh of a client that existed
    // before the freeze never settles. Only a fresh client can find the promoted replica.
    const rooms = await roomOnEachPrimary('public:cluster-wedged');
    const primary = await cluster.primaryOf(slotOf(rooms[rooms.length - 1]));
    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`wedged${index}`))));
    for (const member of members) for (const room of rooms) await member.join(room);
    const fresh = new WeakSet<object>();
    const { connect, rediscover } = RedisClusterSlots.prototype;
    const connects = jest.spyOn(RedisClusterSlots.prototype, 'connect').mockImplementation(function (this: ClusterSlots) {
      fresh.add(this);
      return connect.call(this);
    });
    const refreshes = jest.spyOn(RedisClusterSlots.prototype, 'rediscover').mockImplementation(function (this: ClusterSlots, ...args) {
      return fresh.has(this) ? rediscover.apply(this, args) : new Promise<void>(() => undefined);
    });

    await cluster.freeze(primary);
    try {
      await cluster.waitHealthy(30_000);
      await expectEveryPodReady(20_000);
      await expectDeliveryInEveryRoom(members, rooms, 'while-wedged');
      expect(refreshes).toHaveBeenCalled();
    } finally {
      connects.mockRestore();
      refreshes.mockRestore();
      cluster.thaw(primary);
    }
    await cluster.waitHealthy(30_000);
    await expectEveryPodReady(20_000);
    for (const room of rooms) await expectExactlyOnce(members, room, []);
    await Promise.all(members.map((member) => member.close()));
  }, 120_000);

  describe('a node that serves no slots (not a member yet, or just removed with del-node)', () => {
    let lone: RedisProcess;
    let directory: string;
    beforeAll(async () => {
      directory = mkdtempSync(join(tmpdir(), 'redis-lone-'));
      const [port] = await freeClusterPorts(1);
      lone = await spawnRedisProcess(
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory, '--cluster-enabled', 'yes',
         '--cluster-config-file', join(directory, 'nodes.conf'), '--requirepass', PASSWORD],
        port,
      );
    });
    afterAll(async () => {
      await lone?.stop();
      rmSync(directory, { recursive: true, force: true });
    });

    it('stops start-up when the seeds give a slot map with slots no primary serves, saying so', async () => {
      const seeds = `redis://:${PASSWORD}@127.0.0.1:${lone.port}`;
      // A pod that starts all the same is closed, not left running past the test.
      const outcome = await createTestApp({ ...POD_ENV, REDIS_CLUSTER_NODES: seeds, REDIS_PREFIX: prefix }).then(
        async (pod) => (await pod.close(), 'started'),
        (error: unknown) => String(error),
      );
      expect(outcome).toMatch(/the slot map leaves 16384 of 16384 slots without a primary; is every seed a node of the cluster\?/);
    });

    it('survives a slot map refresh answered by such a node: unready, then whole again, rooms delivering, no unhandled rejection', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const rooms = await roomOnEachPrimary('public:cluster-lone');
        const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`lone${index}`))));
        for (const member of members) for (const room of rooms) await member.join(room);
        // What node-redis does when a MOVED sends it to a node just reset by del-node: it takes
        // that node's (empty) slot map, and resubscribes the channels of every node it dropped.
        const slots = (pods[0].app.get(Engine) as unknown as { connection: { cluster: { _slots: ClusterSlots } } }).connection.cluster._slots;
        await slots.rediscover({ options: { socket: { host: '127.0.0.1', port: lone.port } } } as unknown as Parameters<ClusterSlots['rediscover']>[0]);
        await expectEveryPodReady(20_000);
        await expectDeliveryInEveryRoom(members, rooms, 'after-lone');
        // A rejection nobody handles ends a pod running on its own (Node's default).
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
        await Promise.all(members.map((member) => member.close()));
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    }, 60_000);

    it('serves a room again whose slot this pod last sent to a node since emptied and removed with del-node, while that node still runs', async () => {
      const pod = pods[0];
      const room = 'public:cluster-scaled-in';
      const slot = slotOf(room);
      const owner = await cluster.primaryOf(slot);
      const shardMetric = (node: RedisProcess) => `herald_redis_shard_subscriber_up{shard="127.0.0.1:${node.port}"}`;
      const metrics = async () => (await fetch(`${pod.url}/metrics`)).text();
      const presence = () => http('GET', `${pod.url}/v1/rooms/${room}/presence`, { token: publisherToken() });

      // Scaled out: the slot moves to a fourth primary, and the pod learns so from a call there
      // (MOVED), answered once it has resynced with the new primary.
      const added = await cluster.addPrimary();
      await cluster.migrateSlot(slot, added);
      await eventually(async () => {
        expect((await presence()).status).toBe(200);
        expect(await metrics()).toContain(shardMetric(added));
      }, 10_000, 100);
      // Scaled in: the slot moves back while the pod makes no call there, so its slot map still
      // sends the slot to that node; once removed (and reset) it answers CLUSTERDOWN, not MOVED.
      await cluster.migrateSlot(slot, owner);
      await cluster.removeNode(added);
      await expect(cluster.cli(added, ['SET', `{${room}}`, 'x'])).resolves.toMatch(/^CLUSTERDOWN Hash slot not served/);
      expect(await metrics()).toContain(shardMetric(added));

      // Joined (the refused SSUBSCRIBE has the slot map asked for again of another node), published
      // to and delivered, the removed node still running.
      const member = await connectClient(pod.wsUrl, user('scaled-in'));
      await eventually(async () => expect((await member.request('join', { room })).event).toBe('joined'), 5000, 100);
      expect((await notify(pod, room, 'after scale-in')).status).toBe(202);
      await eventually(() => expect(texts(member, room)).toEqual(['after scale-in']), 10_000);
      expect((await presence()).status).toBe(200);
      expect(await metrics()).not.toContain(shardMetric(added));
      expect(added.running).toBe(true);
      await member.close();
    }, 60_000);
  });

  it('answers a rejoin from before a planned failover recovered: true, with what followed its since in the old life and the new life from its start', async () => {
    const room = 'public:cluster-rejoin-across';
    const away = await connectClient(pods[0].wsUrl, user('away'));
    const joinedAt = (await away.join(room)).data.seq as string;
    expect((await notify(pods[1], room, 'seen')).status).toBe(202);
    const seen = (await away.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'seen')).data.seq as string;
    await away.close();

    const primary = await cluster.primaryOf(slotOf(room));
    const replica = await cluster.replicaOf(primary);
    await cluster.cli(replica, ['CLUSTER', 'FAILOVER']);
    await eventually(async () => expect((await cluster.primaryOf(slotOf(room))).port).toBe(replica.port), 20_000, 100);
    // Acknowledged once the promoted replica takes it (and its own replica, the old primary, has it).
    const id = randomUUID();
    await eventually(async () => expect((await notify(pods[2], room, 'after', id)).status).toBe(202), 30_000, 200);

    const [replayed] = await expectRejoin(pods[0].wsUrl, room, seen, { recovered: true, missed: ['after'] });
    expect(replayed.split('-')[0]).not.toBe(seen.split('-')[0]);
    // From further back: the old life's rest, kept in history with the new life, then the new life.
    await expectRejoin(pods[1].wsUrl, room, joinedAt, { recovered: true, missed: ['seen', 'after'] });
    await cluster.waitHealthy(30_000);
  }, 90_000);

  it("acknowledges a publish with an id only once its id's claim reached a replica, on whichever shard holds it", async () => {
    // An id claimed on another primary than its room's: the room's WAIT covers nothing there, and
    // a failover of that primary would forget the id, so a different body under it would be
    // delivered where section 6 asks for 409.
    const room = 'public:claimed-elsewhere';
    const roomPrimary = await cluster.primaryOf(slotOf(room));
    const claimPrimaryOf = (id: string) => cluster.primaryOf(calculateSlot(`{publish:${id}}`));
    let id = `claim-${randomUUID()}`;
    while ((await claimPrimaryOf(id)).port === roomPrimary.port) id = `claim-${randomUUID()}`;
    const replica = await cluster.replicaOf(await claimPrimaryOf(id));
    const member = await connectClient(pods[0].wsUrl, user('claimer'));
    await member.join(room);

    await cluster.freeze(replica);
    try {
      const unconfirmed = await notify(pods[1], room, 'first', id);
      expect(unconfirmed.status).toBe(503);
      expect(unconfirmed.body.message).toMatch(/REDIS_MIN_REPLICAS.*may have been stored and delivered/);
      // Published all the same, as a publish whose own replicas are missing is (section 7).
      await eventually(() => expect(texts(member, room)).toEqual(['first']));
    } finally {
      cluster.thaw(replica);
    }
    await cluster.waitHealthy(30_000);
    // The retry is acknowledged and not delivered again, and a different body under the id is refused.
    await eventually(async () => expect((await notify(pods[1], room, 'first', id)).status).toBe(202), 10_000, 200);
    expect((await notify(pods[2], room, 'other', id)).status).toBe(409);
    await publish(pods[0].url, { rooms: [room], type: 'test', payload: { text: 'last' } });
    await eventually(() => expect(texts(member, room)).toEqual(['first', 'last']));
    await member.close();
  }, 60_000);

  it('loses no acknowledged notification when the primary of a busy room is killed, and turns ready again', async () => {
    const room = 'public:cluster-busy';
    const primary = await cluster.primaryOf(slotOf(room));
    const members = await Promise.all(pods.map((pod, index) => connectClient(pod.wsUrl, user(`busy${index}`))));
    for (const member of members) await member.join(room);
    const publisher = keepPublishing(room);
    await eventually(() => expect(publisher.acknowledged.length).toBeGreaterThan(5), 10_000);

    await primary.kill();
    await cluster.waitHealthy(30_000);
    // Restarted like a crashed pod, the old primary rejoins as the new primary's replica: until
    // then its shard refuses publishes (REDIS_MIN_REPLICAS=1) and the publisher retries.
    await primary.restart();
    await cluster.waitHealthy(30_000);
    await eventually(async () => {
      for (const pod of pods) expect((await http('GET', `${pod.url}/readyz`)).status).toBe(200);
    }, 30_000, 200);
    const afterFailover = publisher.acknowledged.length;
    await eventually(() => expect(publisher.acknowledged.length).toBeGreaterThan(afterFailover + 5), 20_000);
    await publisher.stop();

    await expectExactlyOnce(members, room, publisher.acknowledged);
    // Every pod saw the primaries change and says so.
    await eventually(async () => (await failoversFollowed()).forEach((count) => expect(count).toBeGreaterThan(0)), 10_000);
    await Promise.all(members.map((member) => member.close()));
  }, 90_000);
});
