import { Broker, Delivery, Publication } from '../../src/broker/broker';
import { parseSeq } from '../../src/broker/seq';
import { eventually } from '../support/eventually';
import { ClusterOptions, EngineHarness } from './engine-harness';

/** Records what a pod's single delivery listener receives. */
export class DeliveryLog {
  readonly deliveries: Delivery[] = [];

  constructor(broker: Broker) {
    broker.onDelivery((delivery) => this.deliveries.push(delivery));
  }

  of(room: string): Delivery[] {
    return this.deliveries.filter((delivery) => delivery.room === room);
  }

  seqsOf(room: string): string[] {
    return this.publicationsOf(room).map((publication) => publication.seq);
  }

  publicationsOf(room: string): Publication[] {
    return this.of(room).filter((delivery): delivery is Publication => delivery.kind === 'publication');
  }
}

const body = (text: string) => ({ room: 'ignored', text });
const textOf = (delivery: Delivery) => (JSON.parse((delivery as Publication).body) as { text: string }).text;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Broker contract (src/broker/broker.ts), run against every implementation: what any pod
 * sees through the seam, whichever store is behind it.
 */
export function brokerContract(harness: EngineHarness): void {
  // The in-process broker is a cluster of one: cases about several pods exist only for the others.
  const itWithPods: (name: string, test: () => Promise<void>) => void = harness.multiPod ? it : () => undefined;
  /** A cluster whose pods are seen through their Broker only. */
  const brokers = async (options?: ClusterOptions) => {
    const cluster = await harness.cluster(options);
    return { pod: async (): Promise<Broker> => (await cluster.pod()).broker };
  };
  afterEach(() => harness.closeAll());

  describe('delivery', () => {
    it('delivers a publication once to a subscribed pod, typed, with its seq, event and body', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      await broker.subscribe('chat');
      const result = await broker.publish('chat', 'message', body('hello'));
      expect(result.duplicate).toBe(false);
      const seq = (result as { seq: string }).seq;
      await eventually(() => expect(inbox.of('chat')).toHaveLength(1));
      const [delivery] = inbox.of('chat');
      expect(delivery).toEqual({ kind: 'publication', room: 'chat', seq, event: 'message', body: JSON.stringify(body('hello')), publishedAtMs: expect.any(Number) });
      await broker.publish('chat', 'message', body('again'));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(2));
    });

    it('delivers nothing for rooms the pod is not subscribed to, nor after it unsubscribes', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      await broker.subscribe('marker');
      await broker.publish('elsewhere', 'message', body('never'));
      await broker.subscribe('chat');
      await broker.unsubscribe('chat');
      await broker.publish('chat', 'message', body('after unsubscribe'));
      // Delivery follows publish order on one pod: once the marker is here, the others would be too.
      await broker.publish('marker', 'message', body('marker'));
      await eventually(() => expect(inbox.of('marker')).toHaveLength(1));
      expect(inbox.deliveries).toHaveLength(1);
    });

    it('delivers ephemeral broadcasts without a seq, carrying the user to skip', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      await broker.subscribe('chat');
      await broker.broadcast('chat', '{"event":"presence"}', 'alice');
      await broker.broadcast('chat', '{"event":"inbox"}');
      await eventually(() => expect(inbox.of('chat')).toHaveLength(2));
      expect(inbox.of('chat')).toEqual([
        { kind: 'broadcast', room: 'chat', frame: '{"event":"presence"}', excludeUser: 'alice' },
        { kind: 'broadcast', room: 'chat', frame: '{"event":"inbox"}' },
      ]);
      // Broadcasts take no position in the room's order.
      expect(parseSeq((await broker.history('chat')).latestSeq!)!.position).toBe(0);
    });

    itWithPods('reaches every subscribed pod exactly once, and no unsubscribed pod', async () => {
      const cluster = await brokers();
      const [a, b, c] = [await cluster.pod(), await cluster.pod(), await cluster.pod()];
      const [inboxA, inboxB, inboxC] = [new DeliveryLog(a), new DeliveryLog(b), new DeliveryLog(c)];
      await a.subscribe('chat');
      await b.subscribe('chat');
      await c.subscribe('other');
      const published = (await c.publish('chat', 'notification', body('to all'))) as { seq: string };
      await eventually(() => {
        expect(inboxA.seqsOf('chat')).toEqual([published.seq]);
        expect(inboxB.seqsOf('chat')).toEqual([published.seq]);
      });
      await c.publish('other', 'message', body('marker'));
      await eventually(() => expect(inboxC.of('other')).toHaveLength(1));
      expect(inboxC.of('chat')).toHaveLength(0);
      expect(inboxA.deliveries).toHaveLength(1);
      expect(inboxB.deliveries).toHaveLength(1);
    });
  });

  describe('personal rooms', () => {
    // Engines may carry many users' personal rooms on one channel (REDIS_PERSONAL_CHANNELS):
    // what arrives must still be exactly the rooms each pod follows.
    const users = Array.from({ length: 24 }, (_, index) => `user:u${index}`);

    it('delivers each personal room only to its own room, publications and broadcasts alike', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      const followed = users.filter((_, index) => index % 3 === 0);
      for (const room of followed) await broker.subscribe(room);
      for (const room of users) await broker.publish(room, 'notification', body(room));
      await broker.broadcast(followed[0], '{"event":"inbox"}', 'someone');
      await broker.broadcast(users[1], '{"event":"inbox"}');
      await eventually(() => expect(inbox.of(followed[0])).toHaveLength(2));
      for (const room of followed) await eventually(() => expect(inbox.publicationsOf(room).map(textOf)).toEqual([room]));
      expect(inbox.of(followed[0])[1]).toEqual({ kind: 'broadcast', room: followed[0], frame: '{"event":"inbox"}', excludeUser: 'someone' });
      expect(inbox.deliveries).toHaveLength(followed.length + 1);

      // Leaving one personal room does not stop the others that may share its channel.
      for (const room of followed.slice(1)) await broker.unsubscribe(room);
      for (const room of users) await broker.publish(room, 'notification', body(`${room} again`));
      await eventually(() => expect(inbox.publicationsOf(followed[0])).toHaveLength(2));
      await broker.publish(followed[0], 'notification', body('marker'));
      await eventually(() => expect(inbox.publicationsOf(followed[0])).toHaveLength(3));
      expect(inbox.deliveries).toHaveLength(followed.length + 3);
    });

    itWithPods('reaches the pod that follows a personal room, once, and no other', async () => {
      const cluster = await brokers();
      const [a, b, publisher] = [await cluster.pod(), await cluster.pod(), await cluster.pod()];
      const [inboxA, inboxB] = [new DeliveryLog(a), new DeliveryLog(b)];
      for (const [index, room] of users.entries()) await (index % 2 === 0 ? a : b).subscribe(room);
      const seqs = new Map<string, string>();
      for (const room of users) seqs.set(room, ((await publisher.publish(room, 'notification', body(room))) as { seq: string }).seq);
      await eventually(() => expect(inboxA.deliveries.length + inboxB.deliveries.length).toBe(users.length));
      for (const [index, room] of users.entries()) {
        expect((index % 2 === 0 ? inboxA : inboxB).seqsOf(room)).toEqual([seqs.get(room)]);
        expect((index % 2 === 0 ? inboxB : inboxA).of(room)).toEqual([]);
      }
    });

    it('anchors a personal room that never carried a message, so a later since recovers from its first publication', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      await broker.subscribe('user:fresh');
      const first = (await broker.publish('user:fresh', 'notification', body('n1'))) as { seq: string };
      await eventually(() => expect(inbox.seqsOf('user:fresh')).toEqual([first.seq]));
      expect(parseSeq(first.seq)!.position).toBe(1);
    });
  });

  describe('answers in this turn (subscribeNow, historyNow)', () => {
    it('subscribes a personal room at once when it can, delivering to it as subscribe would', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      // Enough personal rooms that every channel they may share is held (64 over Redis's 16).
      const warm = Array.from({ length: 64 }, (_, index) => `user:warm${index}`);
      for (const room of warm) await broker.subscribe(room);
      const rooms = Array.from({ length: 24 }, (_, index) => `user:now${index}`);
      const now = rooms.filter((room) => broker.subscribeNow(room));
      expect(now).toEqual(harness.subscribesPersonalRoomsAtOnce ? rooms : []);
      for (const room of rooms) if (!now.includes(room)) await broker.subscribe(room);
      for (const room of rooms) await broker.publish(room, 'notification', body(room));
      for (const room of rooms) await eventually(() => expect(inbox.publicationsOf(room).map(textOf)).toEqual([room]));
      for (const room of [...rooms, ...warm]) await broker.unsubscribe(room);
      await eventually(() => expect(broker.subscribedRooms).toBe(0));
    });

    it('answers historyNow only as history would, and never while a delivery for the room is still on its way', async () => {
      const broker = await (await brokers()).pod();
      const inbox = new DeliveryLog(broker);
      await broker.subscribe('chat');
      const first = (await broker.publish('chat', 'message', body('one'))) as { seq: string };
      await eventually(() => expect(inbox.seqsOf('chat')).toEqual([first.seq]));
      // Once the publication was delivered here, the pod answers as a read of the store would.
      await eventually(async () => expect(broker.historyNow('chat')).toEqual(await broker.history('chat')));
      const publishing = broker.publish('chat', 'message', body('two'));
      // Published and not yet handed to this pod's listener. In process it is already in the
      // history, so no answer now: its delivery would follow a `joined` whose seq counts it. On
      // Redis the publish has not reached Redis yet: the answer stands where this pod does.
      const early = broker.historyNow('chat');
      if (harness.multiPod) expect(early?.latestSeq).toBe(first.seq);
      else expect(early).toBeUndefined();
      const second = (await publishing) as { seq: string };
      await eventually(() => expect(inbox.seqsOf('chat')).toEqual([first.seq, second.seq]));
      // A rejoin from the first: what followed it, from what this pod delivered.
      expect(broker.historyNow('chat', first.seq)).toEqual({ latestSeq: second.seq, recovered: true, publications: [inbox.publicationsOf('chat')[1]] });
    });
  });

  describe('order', () => {
    it('gives every pod the same order, with seqs increasing along it', async () => {
      const cluster = await brokers({ historySize: 1000 });
      const pods = harness.multiPod ? [await cluster.pod(), await cluster.pod()] : [await cluster.pod()];
      const inboxes = pods.map((pod) => new DeliveryLog(pod));
      for (const pod of pods) await pod.subscribe('chat');
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, index) => pods[index % pods.length].publish('chat', 'message', body(`m${index}`))),
      );
      const seqs = results.map((result) => (result as { seq: string }).seq);
      await eventually(() => inboxes.forEach((inbox) => expect(inbox.of('chat')).toHaveLength(60)));
      const received = inboxes[0].seqsOf('chat');
      for (const inbox of inboxes) expect(inbox.seqsOf('chat')).toEqual(received);
      expect([...received].sort()).toEqual(received);
      expect(new Set(received).size).toBe(60);
      expect([...seqs].sort()).toEqual(received);
      for (const publication of inboxes[0].publicationsOf('chat')) expect(publication).toMatchObject({ room: 'chat', event: 'message' });
    });

    it('keeps each room in the order its publishes were handed over, many rooms at once, past what one Redis call carries', async () => {
      const cluster = await brokers();
      const pod = await cluster.pod();
      const inbox = new DeliveryLog(pod);
      const rooms = Array.from({ length: 12 }, (_, index) => `r${index}`);
      for (const room of rooms) await pod.subscribe(room);
      const results = await Promise.all(Array.from({ length: 180 }, (_, index) => pod.publish(rooms[index % rooms.length], 'message', body(`m${index}`))));
      expect(results.filter((result) => result.duplicate)).toEqual([]);
      await eventually(() => rooms.forEach((room) => expect(inbox.of(room)).toHaveLength(15)));
      for (const [index, room] of rooms.entries()) {
        expect(inbox.of(room).map(textOf)).toEqual(Array.from({ length: 15 }, (_, k) => `m${index + rooms.length * k}`));
        expect(inbox.seqsOf(room).map((seq) => parseSeq(seq)!.position)).toEqual(Array.from({ length: 15 }, (_, k) => k + 1));
      }
    });
  });

  describe('history', () => {
    it('hands out a position-0 seq for a room that never published, which a later since recovers from', async () => {
      const cluster = await brokers();
      const broker = await cluster.pod();
      const empty = await broker.history('quiet');
      expect(parseSeq(empty.latestSeq!)!.position).toBe(0);
      expect(await broker.history('quiet', 'abc-000000000001')).toEqual({ latestSeq: empty.latestSeq, recovered: false, publications: [] });
      const first = (await broker.publish('quiet', 'message', body('m1'))) as { seq: string };
      const second = (await broker.publish('quiet', 'message', body('m2'))) as { seq: string };
      const reader = await cluster.pod();
      const missed = await reader.history('quiet', empty.latestSeq!);
      expect(missed.recovered).toBe(true);
      expect(missed.publications.map((delivery) => delivery.seq)).toEqual([first.seq, second.seq]);
    });

    it('replays exactly what came after `since`, in order, with recovered: true', async () => {
      const cluster = await brokers({ historySize: 50 });
      const writer = await cluster.pod();
      const seqs: string[] = [];
      for (let index = 1; index <= 10; index++) seqs.push(((await writer.publish('chat', 'message', body(`m${index}`))) as { seq: string }).seq);
      const reader = await cluster.pod();
      const history = await reader.history('chat', seqs[3]);
      expect(history.latestSeq).toBe(seqs[9]);
      expect(history.recovered).toBe(true);
      expect(history.publications.map((delivery) => delivery.seq)).toEqual(seqs.slice(4));
      expect(history.publications.map((delivery) => textOf(delivery))).toEqual(['m5', 'm6', 'm7', 'm8', 'm9', 'm10']);
      expect(history.publications.every((delivery) => delivery.room === 'chat')).toBe(true);

      const upToDate = await reader.history('chat', seqs[9]);
      expect(upToDate).toMatchObject({ latestSeq: seqs[9], recovered: true, publications: [] });
      const withoutSince = await reader.history('chat');
      expect(withoutSince).toEqual({ latestSeq: seqs[9], recovered: false, publications: [] });
    });

    it('answers recovered: false for a seq of another epoch, a seq from the future, or garbage', async () => {
      const broker = await (await brokers()).pod();
      const { seq } = (await broker.publish('chat', 'message', body('m1'))) as { seq: string };
      const { epoch, position } = parseSeq(seq)!;
      for (const since of [`0000000000zz-${'1'.padStart(12, '0')}`, `${epoch}-${String(position + 5).padStart(12, '0')}`, 'not-a-seq', '']) {
        expect(await broker.history('chat', since)).toEqual({ latestSeq: seq, recovered: false, publications: [] });
      }
    });

    it('keeps exactly the last HISTORY_SIZE publications, whatever the store trims', async () => {
      const broker = await (await brokers({ historySize: 3 })).pod();
      const seqs: string[] = [];
      for (let index = 1; index <= 10; index++) seqs.push(((await broker.publish('chat', 'message', body(`m${index}`))) as { seq: string }).seq);
      const inside = await broker.history('chat', seqs[6]);
      expect(inside.recovered).toBe(true);
      expect(inside.publications.map((delivery) => delivery.seq)).toEqual(seqs.slice(7));
      expect(await broker.history('chat', seqs[5])).toEqual({ latestSeq: seqs[9], recovered: false, publications: [] });
      expect(await broker.history('chat', seqs[0])).toEqual({ latestSeq: seqs[9], recovered: false, publications: [] });
    });

    it('forgets publications older than HISTORY_TTL_S, one by one and then the whole room', async () => {
      const broker = await (await brokers({ historyTtlS: 2 })).pod();
      const first = (await broker.publish('chat', 'message', body('m1'))) as { seq: string };
      const second = (await broker.publish('chat', 'message', body('m2'))) as { seq: string };
      await delay(1000);
      const third = (await broker.publish('chat', 'message', body('m3'))) as { seq: string };
      // m2 expires two seconds after it was published; m3 a second later, time enough for the
      // read below on a loaded machine (with half a second, m3 had expired too in a CI run).
      await eventually(async () => expect((await broker.history('chat', first.seq)).recovered).toBe(false), 5000);
      const recent = await broker.history('chat', second.seq);
      expect(recent.recovered).toBe(true);
      expect(recent.publications.map((delivery) => delivery.seq)).toEqual([third.seq]);

      // Once every publication has expired nothing older can be replayed, but a client that saw
      // the latest one has nothing missing, and what follows replays.
      await eventually(async () => expect((await broker.history('chat', second.seq)).recovered).toBe(false), 5000);
      expect(await broker.history('chat', third.seq)).toEqual({ latestSeq: third.seq, recovered: true, publications: [] });
      const next = (await broker.publish('chat', 'message', body('m4'))) as { seq: string };
      expect(next.seq > third.seq).toBe(true);
      const after = await broker.history('chat', third.seq);
      expect(after.recovered).toBe(true);
      expect(after.publications.map((delivery) => delivery.seq)).toEqual([next.seq]);
    });

    it('starts a new epoch for a room left alone for HISTORY_TTL_S', async () => {
      const broker = await (await brokers({ historyTtlS: 1 })).pod();
      const first = (await broker.publish('chat', 'message', body('m1'))) as { seq: string };
      await delay(1300); // the TTL itself: nothing reads or writes the room meanwhile
      const next = (await broker.publish('chat', 'message', body('m2'))) as { seq: string };
      expect(parseSeq(next.seq)!.epoch).not.toBe(parseSeq(first.seq)!.epoch);
      expect(next.seq > first.seq).toBe(true);
      expect((await broker.history('chat', first.seq)).recovered).toBe(false);
    });
  });

  describe('de-duplication', () => {
    it('stores and delivers a publication with a repeated dedup key once', async () => {
      const cluster = await brokers();
      const a = await cluster.pod();
      const b = harness.multiPod ? await cluster.pod() : a;
      const inbox = new DeliveryLog(a);
      await a.subscribe('chat');
      const results = await Promise.all([
        a.publish('chat', 'notification', body('n1'), { dedupKey: 'n1:chat' }),
        b.publish('chat', 'notification', body('n1'), { dedupKey: 'n1:chat' }),
      ]);
      expect(results.filter((result) => result.duplicate)).toHaveLength(1);
      expect(await b.publish('chat', 'notification', body('n1'), { dedupKey: 'n1:chat' })).toEqual({ duplicate: true, conflict: false });
      await a.publish('chat', 'notification', body('n2'), { dedupKey: 'n2:chat' });
      await eventually(() => expect(inbox.of('chat')).toHaveLength(2));
      expect(inbox.of('chat').map((delivery) => textOf(delivery))).toEqual(['n1', 'n2']);
      const history = await a.history('chat');
      expect(history.latestSeq).toBe(inbox.seqsOf('chat')[1]);
    });

    it('keeps dedup keys per room, so a retry reaches the rooms that missed the first attempt', async () => {
      const cluster = await brokers();
      const a = await cluster.pod();
      const inbox = new DeliveryLog(a);
      await Promise.all([a.subscribe('r1'), a.subscribe('r2')]);
      expect((await a.publish('r1', 'notification', body('once'), { dedupKey: 'n7' })).duplicate).toBe(false);
      // The retry: r1 already has it, r2 never got it.
      expect(await a.publish('r1', 'notification', body('once'), { dedupKey: 'n7' })).toEqual({ duplicate: true, conflict: false });
      expect((await a.publish('r2', 'notification', body('once'), { dedupKey: 'n7' })).duplicate).toBe(false);
      await eventually(() => expect(inbox.of('r2')).toHaveLength(1));
      expect(inbox.of('r1')).toHaveLength(1);
    });
  });

  describe('room state', () => {
    it('keeps the epoch of a room that never carried a message once no pod subscribes to it, so its joined seq recovers what came later', async () => {
      const cluster = await brokers();
      const a = await cluster.pod();
      const b = harness.multiPod ? await cluster.pod() : a;
      await a.subscribe('quiet');
      const joined = (await a.history('quiet')).latestSeq!;
      expect(parseSeq(joined)!.position).toBe(0);
      await a.unsubscribe('quiet');
      // Nothing was published and no pod subscribes any more: then three publications.
      const seqs: string[] = [];
      for (const text of ['m1', 'm2', 'm3']) seqs.push(((await b.publish('quiet', 'message', body(text))) as { seq: string }).seq);
      expect(parseSeq(seqs[0])!.epoch).toBe(parseSeq(joined)!.epoch);
      const missed = await b.history('quiet', joined);
      expect(missed).toMatchObject({ latestSeq: seqs[2], recovered: true });
      expect(missed.publications.map((delivery) => delivery.seq)).toEqual(seqs);
    });

    it('keeps the history of a room that carried a message after its last subscriber leaves', async () => {
      const broker = await (await brokers()).pod();
      await broker.subscribe('chat');
      const joined = (await broker.history('chat')).latestSeq!;
      const published = (await broker.publish('chat', 'message', body('m1'))) as { seq: string };
      await broker.unsubscribe('chat');
      const history = await broker.history('chat', joined);
      expect(history).toMatchObject({ latestSeq: published.seq, recovered: true });
      expect(history.publications.map((delivery) => textOf(delivery))).toEqual(['m1']);
    });

    it("keeps a subscribed room's epoch however long it stays quiet", async () => {
      // A 2 s TTL, extended every 667 ms: the life lapses only if an extension is over 1.3 s late.
      // With 1 s (extended every 333 ms, so 0.7 s late) a Sentinel run on a loaded machine saw it lapse.
      const broker = await (await brokers({ historyTtlS: 2 })).pod();
      const inbox = new DeliveryLog(broker);
      await broker.subscribe('quiet');
      const joined = (await broker.history('quiet')).latestSeq!;
      await delay(3500); // well past the TTL, with nothing read or published
      const published = (await broker.publish('quiet', 'message', body('m1'))) as { seq: string };
      expect(parseSeq(published.seq)!.epoch).toBe(parseSeq(joined)!.epoch);
      await eventually(() => expect(inbox.seqsOf('quiet')).toEqual([published.seq]));
      expect((await broker.history('quiet', joined)).publications.map((delivery) => delivery.seq)).toEqual([published.seq]);
    });

    it('counts HISTORY_TTL_S from when the last subscriber left, not from the last publication', async () => {
      const broker = await (await brokers({ historyTtlS: 2 })).pod();
      await broker.subscribe('chat');
      const first = (await broker.publish('chat', 'message', body('m1'))) as { seq: string };
      await delay(1500);
      await broker.unsubscribe('chat');
      await delay(1000); // past the TTL counted from m1, inside the one counted from the leave
      const second = (await broker.publish('chat', 'message', body('m2'))) as { seq: string };
      expect(parseSeq(second.seq)!.epoch).toBe(parseSeq(first.seq)!.epoch);
      const history = await broker.history('chat', first.seq);
      expect(history).toMatchObject({ latestSeq: second.seq, recovered: true });
      expect(history.publications.map((delivery) => textOf(delivery))).toEqual(['m2']);
    });

    it('forgets a room nobody uses HISTORY_TTL_S after its last subscriber left, so its old seq never recovers', async () => {
      const broker = await (await brokers({ historyTtlS: 1 })).pod();
      await broker.subscribe('quiet');
      const joined = (await broker.history('quiet')).latestSeq!;
      await broker.unsubscribe('quiet');
      await delay(1300); // the TTL itself: nothing reads or writes the room meanwhile
      const published = (await broker.publish('quiet', 'message', body('m1'))) as { seq: string };
      expect(parseSeq(published.seq)!.epoch).not.toBe(parseSeq(joined)!.epoch);
      expect(await broker.history('quiet', joined)).toEqual({ latestSeq: published.seq, recovered: false, publications: [] });
    });
  });

  describe('fingerprints', () => {
    it('reports a repeated dedup key with another fingerprint as a conflict, storing and delivering nothing', async () => {
      const cluster = await brokers();
      const a = await cluster.pod();
      const b = harness.multiPod ? await cluster.pod() : a;
      const inbox = new DeliveryLog(a);
      await a.subscribe('chat');
      const first = (await a.publish('chat', 'notification', body('n1'), { dedupKey: 'n1', fingerprint: 'f1' })) as { seq: string };
      expect(await b.publish('chat', 'notification', body('n1'), { dedupKey: 'n1', fingerprint: 'f1' })).toEqual({ duplicate: true, conflict: false });
      expect(await b.publish('chat', 'notification', body('changed'), { dedupKey: 'n1', fingerprint: 'f2' })).toEqual({ duplicate: true, conflict: true });
      await a.publish('chat', 'notification', body('marker'));
      await eventually(() => expect(inbox.of('chat')).toHaveLength(2));
      expect(inbox.of('chat').map((delivery) => textOf(delivery))).toEqual(['n1', 'marker']);
      const history = await a.history('chat', first.seq);
      expect(history.publications.map((delivery) => textOf(delivery))).toEqual(['marker']);
    });

    it('binds a publish id to its first fingerprint across pods: first, then repeat or conflict', async () => {
      const cluster = await brokers();
      const a = await cluster.pod();
      const b = harness.multiPod ? await cluster.pod() : a;
      const claims = await Promise.all([a.claimPublishId('n1', 'f1'), b.claimPublishId('n1', 'f1')]);
      expect(claims.sort()).toEqual(['first', 'repeat']);
      expect(await b.claimPublishId('n1', 'f2')).toBe('conflict');
      expect(await a.claimPublishId('n1', 'f1')).toBe('repeat');
      // Racing claims with different fingerprints: exactly one binds the id.
      const raced = await Promise.all([a.claimPublishId('n2', 'x'), b.claimPublishId('n2', 'y')]);
      expect(raced.sort()).toEqual(['conflict', 'first']);
    });

    it('keeps every publish id apart from every other key, braces and all', async () => {
      const broker = await (await brokers()).pod();
      // On Redis the ids go inside hash tags: `{publish:X}:dedup:Q}:fingerprint` was both the
      // first publish's de-duplication marker and the second id's binding.
      expect((await broker.publish('publish:X', 'notification', body('a'), { dedupKey: 'Q}:fingerprint', fingerprint: 'a' })).duplicate).toBe(false);
      expect(await broker.claimPublishId('X}:dedup:Q', 'b')).toBe('first');
      expect(await broker.claimPublishId('#{x}', 'c')).toBe('first');
      expect(await broker.claimPublishId('#{x}', 'd')).toBe('conflict');
      expect(await broker.claimPublishId('{x}', 'e')).toBe('first');
    });

    it('forgets a publish id after the history window', async () => {
      const broker = await (await brokers({ historyTtlS: 1 })).pod();
      expect(await broker.claimPublishId('n1', 'f1')).toBe('first');
      await eventually(async () => expect(await broker.claimPublishId('n1', 'f2')).toBe('first'), 3000, 100);
    });
  });

  describe('availability', () => {
    it('is available once connected, and says so to nobody while nothing changes', async () => {
      const broker = await (await brokers()).pod();
      const changes: boolean[] = [];
      broker.onAvailabilityChange((available) => changes.push(available));
      expect(broker.available).toBe(true);
      await broker.publish('chat', 'message', body('m1'));
      expect(changes).toEqual([]);
    });

    it('counts its subscriptions, and none after its engine closes', async () => {
      const engine = await (await harness.cluster()).pod();
      await engine.broker.subscribe('chat');
      await engine.broker.subscribe('other');
      await engine.broker.unsubscribe('other');
      expect(engine.broker.subscribedRooms).toBe(1);
      await engine.close();
      expect(engine.broker.subscribedRooms).toBe(0);
    });
  });
}
