import { Broadcast } from '../../src/broker/broker';
import { PresenceStore, presenceFrame } from '../../src/broker/presence.store';
import { eventually } from '../support/eventually';
import { DeliveryLog } from './broker.contract';
import { ClusterOptions, EngineHarness, PodOptions } from './engine-harness';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * How long after a `since` the changes that must count as after it are made. unheard() sends
 * `since` as an age, which the store subtracts from its own clock when the script runs: a command
 * that waits in a busy machine's queues moves the window that much later, and a shared CI machine
 * has stalled a Cluster's pods for more than a second.
 */
const SEND_LAG_ALLOWANCE_MS = 1000;

/**
 * The PresenceStore contract (src/broker/presence.store.ts), run against every engine's
 * driver: counts across pods, and what happens to the entries of a pod that died or closed.
 */
export function presenceStoreContract(harness: EngineHarness): void {
  const itWithPods: (name: string, test: () => Promise<void>) => void = harness.multiPod ? it : () => undefined;
  /** A cluster whose pods are seen through their PresenceStore only. */
  const stores = async (options?: ClusterOptions) => {
    const cluster = await harness.cluster(options);
    return { pod: async (options?: PodOptions): Promise<PresenceStore> => (await cluster.pod(options)).presence };
  };
  afterEach(() => harness.closeAll());
  /** A pod that dies without removing its entries, a live one, and what either tells onExpired. */
  const deadAndLivePods = async () => {
    const cluster = await harness.cluster();
    const dead = (await cluster.pod({ crashed: true })).presence;
    const live = (await cluster.pod()).presence;
    const expired: [string, string, number][] = [];
    for (const pod of [dead, live]) pod.onExpired((room, user, users) => expired.push([room, user, users]));
    return { dead, live, expired };
  };

  it('reports the first connection of a user joining and the last one leaving, across pods', async () => {
    const cluster = await stores();
    const a = await cluster.pod();
    const b = harness.multiPod ? await cluster.pod() : a;
    expect(await a.add('chat', 'alice', 'c1')).toEqual({ userChanged: true, users: 1 });
    expect(await b.add('chat', 'alice', 'c2')).toEqual({ userChanged: false, users: 1 });
    expect(await b.add('chat', 'bob', 'c3')).toEqual({ userChanged: true, users: 2 });
    expect(await a.add('chat', 'alice', 'c1')).toEqual({ userChanged: false, users: 2 });

    const snapshot = await b.snapshot('chat');
    expect(snapshot.users.sort()).toEqual(['alice', 'bob']);
    expect(snapshot.connections).toBe(3);

    expect(await a.remove('chat', 'alice', 'c1')).toEqual({ userChanged: false, users: 2 });
    expect(await a.remove('chat', 'alice', 'c1')).toEqual({ userChanged: false, users: 2 });
    expect(await b.remove('chat', 'alice', 'c2')).toEqual({ userChanged: true, users: 1 });
    expect(await b.snapshot('chat')).toEqual({ users: ['bob'], connections: 1 });
    expect(await b.remove('chat', 'bob', 'c3')).toEqual({ userChanged: true, users: 0 });
    expect(await a.snapshot('chat')).toEqual({ users: [], connections: 0 });
    expect(await a.snapshot('never-used')).toEqual({ users: [], connections: 0 });
  });

  it('says which of the users asked are in the room, and how many users it has, across pods', async () => {
    const cluster = await stores();
    const a = await cluster.pod();
    const b = harness.multiPod ? await cluster.pod() : a;
    await a.add('asked', 'alice', 'c1');
    await b.add('asked', 'bob', 'c2');
    await b.add('asked', 'carol', 'c3');
    await a.add('asked', 'alice', 'c4');
    expect(await a.present('asked', ['bob', 'dave', 'alice'])).toEqual({ users: 3, present: ['bob', 'alice'] });
    expect(await b.present('asked', [])).toEqual({ users: 3, present: [] });
    expect(await b.present('never-used', ['alice'])).toEqual({ users: 0, present: [] });
    await b.remove('asked', 'bob', 'c2');
    // One of alice's two connections gone: still there.
    await a.remove('asked', 'alice', 'c1');
    expect(await b.present('asked', ['bob', 'alice'])).toEqual({ users: 2, present: ['alice'] });
  });

  describe('announced changes (PresenceAnnouncement)', () => {
    const told = { maxUsers: 2 };
    /** The presence frames a log holds for the room, as `user status`, each checked against presenceFrame and sparing its user. */
    const heard = (log: DeliveryLog, room: string) =>
      log.of(room).flatMap((delivery) => {
        if (delivery.kind !== 'broadcast' || !delivery.frame.includes('"event":"presence"')) return [];
        const { data } = JSON.parse(delivery.frame) as { data: { room: string; user: string; status: 'joined' | 'left'; timestamp: string } };
        expect(delivery.frame).toBe(presenceFrame(data.room, data.user, data.status, data.timestamp));
        expect((delivery as Broadcast).excludeUser).toBe(data.user);
        return [`${data.user} ${data.status}`];
      });

    it('tells the room of a user\'s first connection and last, on every pod, when the room is small enough, and only when asked', async () => {
      const cluster = await harness.cluster();
      const a = await cluster.pod();
      const b = harness.multiPod ? await cluster.pod() : a;
      const logs = [...new Set([a, b])].map((pod) => new DeliveryLog(pod.broker));
      for (const pod of new Set([a, b])) await pod.broker.subscribe('talk');
      await a.presence.add('talk', 'alice', 'c1', told);
      await b.presence.add('talk', 'alice', 'c2', told);
      await b.presence.add('talk', 'bob', 'c3');
      await b.presence.add('talk', 'carol', 'c4', told);
      await a.presence.remove('talk', 'alice', 'c1', told);
      await b.presence.remove('talk', 'carol', 'c4', told);
      await b.presence.remove('talk', 'alice', 'c2', told);
      await a.presence.add('talk', 'dan', 'c5', told);
      // carol made three users (more than maxUsers), her leave counts her too; bob was never announced.
      const expected = ['alice joined', 'alice left', 'dan joined'];
      for (const log of logs) await eventually(() => expect(heard(log, 'talk')).toEqual(expected));
    });

    itWithPods('tells a user moving between pods in the order the store changed, on every pod', async () => {
      const cluster = await harness.cluster();
      const [a, b] = [await cluster.pod(), await cluster.pod()];
      const logs = [a, b].map((pod) => new DeliveryLog(pod.broker));
      for (const pod of [a, b]) await pod.broker.subscribe('handoff');
      await a.presence.add('handoff', 'erin', 'e0', told);
      // Each round closes the old connection on one pod while the new one opens on the other.
      const pods = [a, b];
      for (let round = 1; round <= 20; round++) {
        await Promise.all([pods[round % 2].presence.add('handoff', 'erin', `e${round}`, told), pods[(round + 1) % 2].presence.remove('handoff', 'erin', `e${round - 1}`, told)]);
      }
      const present = (await a.presence.snapshot('handoff')).users.includes('erin');
      for (const log of logs) {
        await eventually(() => {
          const statuses = heard(log, 'handoff');
          // Alternating, as the store's changes were, and ending where the store stands.
          statuses.forEach((status, index) => expect(status).toBe(index % 2 === 0 ? 'erin joined' : 'erin left'));
          expect(statuses.at(-1)).toBe(present ? 'erin joined' : 'erin left');
        });
      }
      expect(heard(logs[0], 'handoff')).toEqual(heard(logs[1], 'handoff'));
    });
  });

  itWithPods('says which users there the room was told joined since a time: what a pod cut off from the store meanwhile missed', async () => {
    const cluster = await harness.cluster();
    const [a, b] = [(await cluster.pod()).presence, (await cluster.pod()).presence];
    const told = { maxUsers: 4 };
    await a.add('unheard', 'before', 'c1', told);
    await a.add('unheard', 'leaving', 'c2', told);
    // The store's clock against this process's: the same machine's, a few ms apart at most.
    await delay(20);
    const since = Date.now();
    await delay(SEND_LAG_ALLOWANCE_MS);
    await b.add('unheard', 'after', 'c3', told);
    await b.add('unheard', 'untold', 'c4');
    await b.add('unheard', 'gone', 'c5', told);
    await b.remove('unheard', 'gone', 'c5', told);
    // Back after a leave: announced again.
    await a.remove('unheard', 'leaving', 'c2', told);
    await a.add('unheard', 'leaving', 'c6', told);
    // A fifth user makes more than maxUsers: not announced.
    await a.add('unheard', 'crowd', 'c7', told);
    expect((await b.unheard('unheard', since, 5)).joinsToldSince.sort()).toEqual(['after', 'leaving']);
    // Asked for a room of more users than are told of (5 > 4): nobody would be told, so nothing is read.
    expect(await b.unheard('unheard', since, 4)).toEqual({ users: 5, joinsToldSince: [], departedSince: [] });
    // A pod whose clock runs a minute ahead of the store's asks from its own clock, and gets the same.
    const ahead = Date.now() - since;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => since + ahead + 60_000);
    try {
      expect((await b.unheard('unheard', since + 60_000, 5)).joinsToldSince.sort()).toEqual(['after', 'leaving']);
    } finally {
      clock.mockRestore();
    }
    expect((await a.unheard('unheard', Date.now() + 60_000, 5)).joinsToldSince).toEqual([]);
    // Gone with the last entry: a user who comes back into an emptied room is announced anew.
    // Each by the pod holding it (a pod puts back at its next refresh an entry it still holds).
    for (const [pod, user, id] of [[a, 'before', 'c1'], [b, 'after', 'c3'], [b, 'untold', 'c4'], [a, 'leaving', 'c6'], [a, 'crowd', 'c7']] as const) await pod.remove('unheard', user, id);
    await a.add('unheard', 'after', 'c8');
    expect((await a.unheard('unheard', 0, 5)).joinsToldSince).toEqual([]);
  });

  itWithPods('says which users left the room since a time, told or expired, unless they are back or arrived since: what a pod cut off meanwhile missed', async () => {
    const cluster = await harness.cluster();
    const [a, b] = [(await cluster.pod()).presence, (await cluster.pod()).presence];
    const told = { maxUsers: 10 };
    for (const [user, id] of [['gone-before', 'c0'], ['early', 'c1'], ['stays', 'c2'], ['returns', 'c3'], ['quiet', 'c4'], ['two-tabs', 'c5'], ['two-tabs', 'c6']]) await a.add('departures', user, id, told);
    await a.remove('departures', 'gone-before', 'c0', told);
    await delay(20);
    const since = Date.now();
    await delay(SEND_LAG_ALLOWANCE_MS);
    // Told `left`, and asked of the other pod below. Removed by the pod that holds it, as in
    // production: a pod still holding an entry another removed puts it back at its next refresh
    // (every presenceRefreshMs), and the user is back.
    await a.remove('departures', 'early', 'c1', told);
    // Arrived since, and left: a pod that missed both never heard of it.
    await b.add('departures', 'visitor', 'c7', told);
    await b.remove('departures', 'visitor', 'c7', told);
    // Back after leaving: not gone.
    await a.remove('departures', 'returns', 'c3', told);
    await a.add('departures', 'returns', 'c8', told);
    // Left without a `left` told here (its pod's to tell, which may be gone by the time the store runs it).
    await a.remove('departures', 'quiet', 'c4');
    // One tab of two closed: still there.
    await a.remove('departures', 'two-tabs', 'c5', told);
    expect((await b.unheard('departures', since, 10)).departedSince.sort()).toEqual(['early', 'quiet']);
    // Stays, returns and two-tabs: more than 2, so nobody would be told of them.
    expect(await b.unheard('departures', since, 2)).toEqual({ users: 3, joinsToldSince: [], departedSince: [] });
    // A pod that died: its users' entries expire, which the pods tell, so they count as told.
    const crashed = (await cluster.pod({ crashed: true })).presence;
    await crashed.add('departures', 'crashed-user', 'c9', told);
    const beforeExpiry = Date.now();
    await eventually(async () => expect((await a.unheard('departures', beforeExpiry, 10)).departedSince).toEqual(['crashed-user']), 5 * harness.presenceTtlMs! + 2000);
  });

  it('keeps rooms apart, and counts the entries this pod holds', async () => {
    const store = await (await stores()).pod();
    await store.add('one', 'alice', 'c1');
    expect(await store.add('two', 'alice', 'c1')).toEqual({ userChanged: true, users: 1 });
    expect(store.localEntries).toBe(2);
    await store.remove('one', 'alice', 'c1');
    expect(await store.snapshot('two')).toEqual({ users: ['alice'], connections: 1 });
    expect(await store.snapshot('one')).toEqual({ users: [], connections: 0 });
    expect(store.localEntries).toBe(1);
  });

  it('answers adds and removes asked for all at once as if each had been made alone, in order', async () => {
    const store = await (await stores()).pod();
    // One turn of the event loop: engines may send these as one batch.
    const outcomes = await Promise.all([
      store.add('chat', 'alice', 'c1'),
      store.add('chat', 'alice', 'c2'),
      store.add('chat', 'bob', 'c3'),
      store.remove('chat', 'alice', 'c1'),
      store.remove('chat', 'alice', 'c2'),
      store.remove('chat', 'alice', 'c2'),
      store.add('chat', 'alice', 'c4'),
      store.remove('chat', 'bob', 'c3'),
    ]);
    expect(outcomes).toEqual([
      { userChanged: true, users: 1 },
      { userChanged: false, users: 1 },
      { userChanged: true, users: 2 },
      { userChanged: false, users: 2 },
      { userChanged: true, users: 1 },
      { userChanged: false, users: 1 },
      { userChanged: true, users: 2 },
      { userChanged: true, users: 1 },
    ]);
    expect(await store.snapshot('chat')).toEqual({ users: ['alice'], connections: 1 });
    expect(store.localEntries).toBe(1);
  });

  it('ignores the removal of a connection it never had', async () => {
    const store = await (await stores()).pod();
    await store.add('chat', 'alice', 'c1');
    expect(await store.remove('chat', 'alice', 'unknown')).toEqual({ userChanged: false, users: 1 });
    expect(await store.remove('elsewhere', 'alice', 'c1')).toEqual({ userChanged: false, users: 0 });
    expect(await store.snapshot('chat')).toEqual({ users: ['alice'], connections: 1 });
  });

  it("counts a personal room's connections across pods, its own user's only", async () => {
    const cluster = await stores();
    const a = await cluster.pod();
    const b = harness.multiPod ? await cluster.pod() : a;
    // Many users' personal rooms: on Redis they share a few sets, which must still keep them apart.
    const users = Array.from({ length: 40 }, (_, index) => `u${index}`);
    users.forEach((user, index) => a.enterPersonal(`user:${user}`, user, `a${index}`));
    b.enterPersonal('user:u7', 'u7', 'b7');
    b.enterPersonal('user:u7', 'u7', 'b7');
    // Counted within the batch window; a pod's own snapshot writes what waits first.
    expect(await a.snapshot('user:u8')).toEqual({ users: ['u8'], connections: 1 });
    expect(await b.snapshot('user:u7')).toEqual({ users: ['u7'], connections: 2 });
    expect(await a.snapshot('user:nobody')).toEqual({ users: [], connections: 0 });
    expect(a.localEntries).toBe(harness.multiPod ? 40 : 41);
    a.leavePersonal('user:u7', 'u7', 'a7');
    a.leavePersonal('user:u7', 'u7', 'a7');
    a.leavePersonal('user:u7', 'u7', 'unknown');
    expect(await a.snapshot('user:u7')).toEqual({ users: ['u7'], connections: 1 });
    b.leavePersonal('user:u7', 'u7', 'b7');
    expect(await b.snapshot('user:u7')).toEqual({ users: [], connections: 0 });
    expect(await b.snapshot('user:u8')).toEqual({ users: ['u8'], connections: 1 });
    expect(a.localEntries).toBe(39);
  });

  it("counts a user's connections in their personal room apart from the same connections in other rooms", async () => {
    const store = await (await stores()).pod();
    store.enterPersonal('user:alice', 'alice', 'c1');
    store.enterPersonal('user:alice', 'alice', 'c2');
    await store.add('chat', 'alice', 'c1');
    expect(await store.snapshot('user:alice')).toEqual({ users: ['alice'], connections: 2 });
    expect(await store.snapshot('chat')).toEqual({ users: ['alice'], connections: 1 });
    expect(store.localEntries).toBe(3);
    store.leavePersonal('user:alice', 'alice', 'c2');
    await store.remove('chat', 'alice', 'c1');
    expect(await store.snapshot('user:alice')).toEqual({ users: ['alice'], connections: 1 });
    expect(store.localEntries).toBe(1);
  });

  itWithPods("forgets a dead pod's personal-room entries after the presence TTL, telling onExpired nothing", async () => {
    const { dead, live, expired } = await deadAndLivePods();
    dead.enterPersonal('user:zoe', 'zoe', 'z1');
    live.enterPersonal('user:yan', 'yan', 'y1');
    await dead.snapshot('user:zoe');
    expect(await live.snapshot('user:zoe')).toEqual({ users: ['zoe'], connections: 1 });
    await eventually(async () => expect(await live.snapshot('user:zoe')).toEqual({ users: [], connections: 0 }), 5 * harness.presenceTtlMs!);
    // A TTL more, so the live pod's refreshes have run too (a fixed wait: nothing may change).
    await delay(harness.presenceTtlMs!);
    expect(await live.snapshot('user:yan')).toEqual({ users: ['yan'], connections: 1 });
    expect(expired).toEqual([]);
  });

  itWithPods("forgets a dead pod's entries after the presence TTL, says so once, and keeps a live pod's", async () => {
    const { dead, live, expired } = await deadAndLivePods();
    await dead.add('chat', 'alice', 'c1');
    await dead.add('chat', 'alice', 'c4');
    await live.add('chat', 'bob', 'c2');
    // Some pod notices, once, that alice's last connection is gone.
    await eventually(() => expect(expired).toEqual([['chat', 'alice', 1]]), 5 * harness.presenceTtlMs!);
    expect(await live.snapshot('chat')).toEqual({ users: ['bob'], connections: 1 });
    expect(await live.present('chat', ['alice', 'bob'])).toEqual({ users: 1, present: ['bob'] });
    // Well past the TTL, bob is still there because his pod is alive (a fixed wait: nothing may change).
    await delay(1.5 * harness.presenceTtlMs!);
    expect(await live.snapshot('chat')).toEqual({ users: ['bob'], connections: 1 });
    expect(expired).toHaveLength(1);
    // alice's expiry was her last connection leaving: joining again is a first join.
    expect(await live.add('chat', 'alice', 'c3')).toEqual({ userChanged: true, users: 2 });
  });

  itWithPods("removes a closed pod's entries at once", async () => {
    const cluster = await harness.cluster();
    const a = await cluster.pod();
    const b = (await cluster.pod()).presence;
    await a.presence.add('chat', 'alice', 'c1');
    await a.presence.add('news', 'alice', 'c1');
    a.presence.enterPersonal('user:alice', 'alice', 'c1');
    await b.add('chat', 'bob', 'c2');
    b.enterPersonal('user:bob', 'bob', 'c2');
    expect(await a.presence.snapshot('user:alice')).toEqual({ users: ['alice'], connections: 1 });
    await a.close();
    expect(await b.snapshot('chat')).toEqual({ users: ['bob'], connections: 1 });
    expect(await b.snapshot('news')).toEqual({ users: [], connections: 0 });
    expect(await b.snapshot('user:alice')).toEqual({ users: [], connections: 0 });
    expect(await b.snapshot('user:bob')).toEqual({ users: ['bob'], connections: 1 });
  });
}
