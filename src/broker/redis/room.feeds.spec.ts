import { Broadcast, Delivery, HistoryResult, Publication } from '../broker';
import { formatSeq, parseSeq } from '../seq';
import { RoomFeeds } from './room.feeds';

/** A room's history as Redis would answer it: one life (epoch) at a time. */
class FakeHistory {
  epoch = 'e1';
  publications: Publication[] = [];

  constructor(private readonly room = 'chat') {}

  publish(text: string, publishedAtMs = Date.now()): Publication {
    const publication: Publication = { kind: 'publication', room: this.room, seq: formatSeq(this.epoch, this.publications.length + 1), event: 'message', body: JSON.stringify({ text }), publishedAtMs };
    this.publications.push(publication);
    return publication;
  }

  /** Where the life before this one ended on the promoted server (HISTORY's `after`). */
  previousLifeEnd: string | undefined;
  /** What the promoted server held of the life before this one. */
  private previousLife: Publication[] = [];

  /**
   * A new life, empty: Redis lost its data, or (with `tookOverAt`) a failover's promoted replica
   * held the old life up to that position when its first publish began the new one.
   */
  restart(epoch: string, tookOverAt?: number): void {
    this.previousLifeEnd = tookOverAt === undefined ? undefined : formatSeq(this.epoch, tookOverAt);
    this.previousLife = tookOverAt === undefined ? [] : this.publications.slice(0, tookOverAt);
    this.epoch = epoch;
    this.publications = [];
  }

  /** HISTORY_SIZE: how many of the life's newest publications a read reaches back over. */
  size = Number.POSITIVE_INFINITY;

  /** As RedisBroker reads: `acrossFailover` reads from the old life at or before where this one took over on into this one. */
  read = async (_room: string, since?: string, acrossFailover = false): Promise<HistoryResult> => {
    const latestSeq = formatSeq(this.epoch, this.publications.length);
    if (since === undefined) return { latestSeq, recovered: false, publications: [] };
    const from = parseSeq(since)!;
    if (from.epoch === this.epoch && this.publications.length - from.position > this.size) return { latestSeq, recovered: false, publications: [] };
    if (from.epoch === this.epoch) return { latestSeq, recovered: true, publications: this.publications.slice(from.position) };
    const end = this.previousLifeEnd === undefined ? undefined : parseSeq(this.previousLifeEnd)!;
    if (!acrossFailover || end?.epoch !== from.epoch || from.position > end.position || this.previousLife.length < end.position) {
      return { latestSeq, recovered: false, publications: [] };
    }
    return { latestSeq, recovered: true, publications: [...this.previousLife.slice(from.position, end.position), ...this.publications] };
  };
}

const textOf = (delivery: Delivery) =>
  delivery.kind === 'publication' ? (JSON.parse(delivery.body) as { text: string }).text : delivery.kind === 'broadcast' ? delivery.frame : delivery.kind;

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('RoomFeeds', () => {
  /** `newLifeIsGap`: as with REDIS_MIN_REPLICAS=0. */
  function setUp(replaySize?: number, newLifeIsGap?: boolean) {
    const history = new FakeHistory();
    const deliveries: Delivery[] = [];
    const feeds = new RoomFeeds(history.read, (delivery) => deliveries.push(delivery), replaySize, newLifeIsGap);
    const feed = feeds.open('chat');
    feeds.anchor('chat', feed, { epoch: 'e1', latestPosition: 0 });
    const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
    return { history, deliveries, feeds, live };
  }

  /**
   * RoomFeeds over a history whose reads fail while the broker is not `available` (a lost
   * connection's), or while `failing` (a read that fails with the broker up).
   */
  function setUpWithOutages() {
    const history = new FakeHistory();
    const deliveries: Delivery[] = [];
    const broker = { available: true, failing: false, reads: 0 };
    const read = (room: string, since?: string) => {
      broker.reads++;
      return broker.available && !broker.failing ? history.read(room, since) : Promise.reject(new Error('The message broker is unreachable'));
    };
    const feeds = new RoomFeeds(read, (delivery) => deliveries.push(delivery), undefined, undefined, undefined, undefined, () => broker.available);
    const feed = feeds.open('chat');
    feeds.anchor('chat', feed, { epoch: 'e1', latestPosition: 0 });
    const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
    return { history, deliveries, feeds, live, broker };
  }

  /** A message delivered, the connection lost, and one published meanwhile: the catch-up's work. */
  function awayWhileOnePublished({ history, feeds, live }: ReturnType<typeof setUpWithOutages>) {
    live(history.publish('before'));
    feeds.holdAll();
    history.publish('missed while away');
  }

  it('tries a catch-up the broker lost again at the next resync, with what it held, instead of telling the room to recover', async () => {
    const feedsWithOutages = setUpWithOutages();
    const { history, deliveries, feeds, live, broker } = feedsWithOutages;
    awayWhileOnePublished(feedsWithOutages);
    // Back, then lost again while the catch-up reads.
    broker.available = false;
    feeds.catchUpAll();
    await settled();
    expect(broker.reads).toBe(1);
    // Live again before its resync is done: held behind the catch-up still to come.
    live(history.publish('live after'));
    expect(deliveries.map(textOf)).toEqual(['before']);
    broker.available = true;
    feeds.catchUpAll();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'missed while away', 'live after']);
  });

  it('holds only the rooms of a silent part of Redis: the others deliver on, and the resync catches the held ones up in order', async () => {
    const histories = { chat: new FakeHistory('chat'), news: new FakeHistory('news') };
    const deliveries: Delivery[] = [];
    const feeds = new RoomFeeds((room, since) => histories[room as keyof typeof histories].read(room, since), (delivery) => deliveries.push(delivery));
    for (const room of Object.keys(histories)) feeds.anchor(room, feeds.open(room), { epoch: 'e1', latestPosition: 0 });
    const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
    const inRoom = (room: string) => deliveries.filter((delivery) => delivery.kind === 'publication' && delivery.room === room).map(textOf);

    feeds.holdAll((room) => room === 'chat');
    // The silent shard's subscriber missed one; what arrives live for the room waits behind it.
    histories.chat.publish('missed');
    live(histories.chat.publish('chat live'));
    live(histories.news.publish('news live'));
    expect(inRoom('news')).toEqual(['news live']);
    expect(inRoom('chat')).toEqual([]);
    expect(feeds.positionOf('chat')).toBeUndefined();

    feeds.catchUpAll();
    await settled();
    expect(inRoom('chat')).toEqual(['missed', 'chat live']);
    expect(inRoom('news')).toEqual(['news live']);
    live(histories.chat.publish('chat after'));
    expect(inRoom('chat').at(-1)).toBe('chat after');
  });

  it('tells the room to recover when a catch-up fails while the broker is up: no resync will try it again', async () => {
    const feedsWithOutages = setUpWithOutages();
    const { deliveries, feeds, broker } = feedsWithOutages;
    awayWhileOnePublished(feedsWithOutages);
    broker.failing = true;
    feeds.catchUpAll();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'gap']);
  });

  it('reports a lost history once, however many resyncs follow before the new life carries anything', async () => {
    const { history, deliveries, feeds, live } = setUp();
    live(history.publish('before'));
    history.restart('e2');
    feeds.catchUpAll();
    await new Promise((resolve) => setImmediate(resolve));
    feeds.catchUpAll();
    await new Promise((resolve) => setImmediate(resolve));
    live(history.publish('after'));
    expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'after']);
  });

  it('delivers a new life\'s first publication once, though the old life delivered the same position', async () => {
    const { history, deliveries, feeds, live } = setUp();
    live(history.publish('before', 1000));
    history.restart('e2');
    const after = history.publish('after', 2000);
    // The second resync reads history before the live message of `after` arrives.
    feeds.catchUpAll();
    await new Promise((resolve) => setImmediate(resolve));
    feeds.catchUpAll();
    live(after);
    await new Promise((resolve) => setImmediate(resolve));
    expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'after']);
  });

  it('holds what arrives between a lost connection and its catch-up: a new life\'s publications are all delivered, after the gap, once and in order', async () => {
    const { history, deliveries, feeds, live } = setUp();
    live(history.publish('before'));
    feeds.holdAll();
    // Redis restarted empty; quicker pods published into its new life before this pod's subscriber
    // was back, then it received the next ones live, before its resync was done.
    history.restart('e2');
    history.publish('missed 1');
    history.publish('missed 2');
    live(history.publish('live 3'));
    live(history.publish('live 4'));
    expect(deliveries.map(textOf)).toEqual(['before']);
    feeds.catchUpAll();
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'missed 1', 'missed 2', 'live 3', 'live 4']);
    live(history.publish('after'));
    expect(deliveries.map(textOf).at(-1)).toBe('after');
  });

  it.each([false, true])('catches up when a new life\'s publication arrives live after positions of it never did, and tells the gap once (new life a gap: %s)', async (newLifeIsGap) => {
    const { history, deliveries, live } = setUp(undefined, newLifeIsGap);
    live(history.publish('before'));
    // A failover's new epoch (or a Redis that lost its data) whose first publications this pod's
    // subscription missed: nothing in the old life's numbering shows a skip.
    history.restart('e2');
    history.publish('missed 1');
    live(history.publish('live 2'));
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'missed 1', 'live 2']);
  });

  it('carries the members into a new life arriving live in order where it took over at the position delivered here (a failover)', async () => {
    const { history, deliveries, live } = setUp();
    live(history.publish('before'));
    history.restart('e2', 1);
    live(history.publish('first of e2'));
    live(history.publish('second of e2'));
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'first of e2', 'second of e2']);
  });

  it.each([
    ['short of what was delivered here (a deposed primary\'s last write, answered 503, and its retry in the new life)', 1],
    ['where nothing tells (a Redis that lost its data, or a life an earlier version began)', undefined],
  ])('tells the gap when a new life arriving live in order took over %s', async (_, tookOverAt) => {
    const { history, deliveries, live } = setUp();
    live(history.publish('before'));
    live(history.publish('lost'));
    history.restart('e2', tookOverAt);
    live(history.publish('lost'));
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'lost', 'gap', 'lost']);
  });

  /** A catch-up whose second read finds a failover's new life, begun by a publication since its first read. */
  function lifeChangesBetweenReads(newLifeIsGap: boolean) {
    const history = new FakeHistory();
    const deliveries: Delivery[] = [];
    let reads = 0;
    const read = (room: string, since?: string, acrossFailover?: boolean) => {
      // The second read finds the promoted replica's new life, begun by a publication since the first.
      if (++reads === 2) {
        history.restart('e2', history.publications.length);
        history.publish('first of e2');
      }
      return history.read(room, since, acrossFailover);
    };
    const feeds = new RoomFeeds(read, (delivery) => deliveries.push(delivery), undefined, newLifeIsGap);
    feeds.anchor('chat', feeds.open('chat'), { epoch: 'e1', latestPosition: 0 });
    const before = history.publish('before');
    feeds.receive(before, parseSeq(before.seq)!);
    feeds.holdAll();
    history.publish('missed while away');
    feeds.catchUpAll();
    return deliveries;
  }

  it('reads across when a failover\'s new life begins between the catch-up\'s two reads, taking over at what was delivered here or past it: no gap', async () => {
    const deliveries = lifeChangesBetweenReads(false);
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'missed while away', 'first of e2']);
  });

  it('names the newest life it read in the recovery when a new life begun between the catch-up\'s reads cannot be read across (REDIS_MIN_REPLICAS=0)', async () => {
    const deliveries = lifeChangesBetweenReads(true);
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'gap']);
    expect(deliveries.at(-1)).toEqual({ kind: 'gap', room: 'chat', latestSeq: formatSeq('e2', 1) });
  });

  it('names in the recovery the newest position its last read saw, when a new life had already outgrown its history by then: what arrives after it is delivered', async () => {
    const history = new FakeHistory();
    history.size = 2;
    const deliveries: Delivery[] = [];
    const feeds = new RoomFeeds(
      async (room, since, acrossFailover) => {
        const result = await history.read(room, since, acrossFailover);
        // While the catch-up reads, the new life carries on, live to this pod (held) and past its history's reach.
        if (since !== undefined && parseSeq(since)!.epoch === 'e1') for (const text of ['new 2', 'new 3', 'new 4']) live(history.publish(text));
        return result;
      },
      (delivery) => deliveries.push(delivery),
    );
    const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
    feeds.anchor('chat', feeds.open('chat'), { epoch: 'e1', latestPosition: 0 });
    live(history.publish('before'));
    feeds.holdAll();
    // A failover under load whose promoted server kept nothing of where the old life ended.
    history.restart('e2');
    live(history.publish('new 1'));
    feeds.catchUpAll();
    await settled();
    await settled();
    // The first read saw e2's first position; the one the recovery names is where the room stood at the last.
    expect(deliveries.map(textOf)).toEqual(['before', 'gap']);
    expect(deliveries.at(-1)).toEqual({ kind: 'gap', room: 'chat', latestSeq: formatSeq('e2', 4) });
    live(history.publish('new 5'));
    expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'new 5']);
  });

  it('reads across to a new life arriving live in order that took over past what was delivered here: the rest of the old life first, without a gap', async () => {
    const { history, deliveries, live } = setUp();
    live(history.publish('before'));
    // Published, replicated, and still on its way to this pod when its primary failed.
    history.publish('in flight 1');
    history.publish('in flight 2');
    history.restart('e2', 3);
    live(history.publish('first of e2'));
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'in flight 1', 'in flight 2', 'first of e2']);
  });

  /**
   * Delivers `deliveredBefore`, loses the connection, lets `missedBefore` be published (and held
   * by the promoted server), and lets a failover's new life carry two publications, the second
   * arriving live.
   */
  function awayDuringAFailover(newLifeIsGap: boolean, tookOverAt: number | undefined, deliveredBefore = ['before'], missedBefore: string[] = []) {
    const feedsUnderTest = setUp(undefined, newLifeIsGap);
    const { history, feeds, live } = feedsUnderTest;
    for (const text of deliveredBefore) live(history.publish(text));
    feeds.holdAll();
    for (const text of missedBefore) history.publish(text);
    history.restart('e2', tookOverAt);
    history.publish('missed 1');
    live(history.publish('live 2'));
    return feedsUnderTest;
  }

  it('carries the members on when the catch-up after a resync finds a failover\'s new life under way that took over at the position delivered here', async () => {
    const { deliveries, feeds } = awayDuringAFailover(false, 1);
    feeds.catchUpAll();
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'missed 1', 'live 2']);
  });

  it.each([
    ['short of what was delivered here', 1, ['before', 'lost']],
    ['where nothing tells (a Redis that lost its data)', undefined, ['before']],
    ['past what was delivered here, but the old life\'s rest is no longer in history', 3, ['before']],
  ])('tells the gap when the catch-up after a resync finds a new life that took over %s', async (_, tookOverAt, deliveredBefore) => {
    const { deliveries, feeds } = awayDuringAFailover(false, tookOverAt, deliveredBefore);
    feeds.catchUpAll();
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual([...deliveredBefore, 'gap', 'missed 1', 'live 2']);
  });

  it('reads across when the catch-up after a resync finds a new life that took over past what was delivered here: what the pod missed of the old life, then the new one', async () => {
    const { deliveries, feeds } = awayDuringAFailover(false, 3, ['before'], ['missed in the old life 1', 'missed in the old life 2']);
    feeds.catchUpAll();
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'missed in the old life 1', 'missed in the old life 2', 'missed 1', 'live 2']);
  });

  it('never moves a feed back to an earlier life than it delivered, when its catch-up\'s second read already carried it into a new one', async () => {
    const history = new FakeHistory();
    const deliveries: Delivery[] = [];
    let firstRead = true;
    // A failover between the catch-up's two reads, and a reader that answers a `since` where the
    // new life took over with that life from its start (as a rejoin's read does).
    const read = async (room: string, since?: string): Promise<HistoryResult> => {
      if (since === undefined && firstRead) {
        firstRead = false;
        const answer = await history.read(room);
        history.restart('e2', 1);
        history.publish('first of e2');
        return answer;
      }
      if (since !== undefined && since === history.previousLifeEnd) return history.read(room, formatSeq(history.epoch, 0));
      return history.read(room, since);
    };
    const feeds = new RoomFeeds(read, (delivery) => deliveries.push(delivery));
    feeds.anchor('chat', feeds.open('chat'), { epoch: 'e1', latestPosition: 0 });
    const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
    live(history.publish('before'));
    feeds.holdAll();
    feeds.catchUpAll();
    await settled();
    await settled();
    live(history.publish('second of e2'));
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['before', 'first of e2', 'second of e2']);
  });

  describe('with REDIS_MIN_REPLICAS=0, where a failover may lose acknowledged writes', () => {
    it('tells the members to recover when a followed room\'s new life arrives live, even in order', async () => {
      const { history, deliveries, live } = setUp(undefined, true);
      live(history.publish('before'));
      // A write after `before` was acknowledged and lost with the old primary; the promoted
      // replica's first publication starts a new life at its first position.
      history.restart('e2');
      live(history.publish('first of e2'));
      live(history.publish('second of e2'));
      await settled();
      await settled();
      expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'first of e2', 'second of e2']);
    });

    it('tells them to recover when the catch-up after a resync finds a new life, even one that took over where this pod stood', async () => {
      const { deliveries, feeds } = awayDuringAFailover(true, 1);
      feeds.catchUpAll();
      await settled();
      await settled();
      expect(deliveries.map(textOf)).toEqual(['before', 'gap', 'missed 1', 'live 2']);
    });
  });

  it('drops a publication of an earlier life that arrives after the new one began (a deposed primary waking up)', async () => {
    const { history, deliveries, live } = setUp();
    const old = new FakeHistory();
    old.publish('m1');
    live(history.publish('m1'));
    history.restart('e2', 1);
    live(history.publish('first of e2'));
    // The old primary wakes and runs a write queued for it, in the life it still has.
    live(old.publish('stale'));
    live(history.publish('second of e2'));
    await settled();
    await settled();
    expect(deliveries.map(textOf)).toEqual(['m1', 'first of e2', 'second of e2']);
  });

  describe('a catch-up whose read a deposed primary answers (paused past its failover, awake, not told yet)', () => {
    /**
     * The promoted server took over at m2 and began e2 with the retry of `ghost`; the deposed
     * primary ran `ghost` in e1 on waking (answered 503) and answers reads from e1 for the first
     * `deposedReads` of them.
     */
    function failedOver(deposedReads: number) {
      const promoted = new FakeHistory();
      const deposed = new FakeHistory();
      const deliveries: Delivery[] = [];
      let reads = 0;
      const read = (room: string, since?: string, acrossFailover?: boolean) => (++reads <= deposedReads ? deposed : promoted).read(room, since, acrossFailover);
      const feeds = new RoomFeeds(read, (delivery) => deliveries.push(delivery));
      feeds.anchor('chat', feeds.open('chat'), { epoch: 'e1', latestPosition: 0 });
      const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
      for (const text of ['m1', 'm2']) {
        live(promoted.publish(text));
        deposed.publish(text);
      }
      const ghost = deposed.publish('ghost');
      promoted.restart('e2', 2);
      const retry = promoted.publish('ghost');
      return { deliveries, live, ghost, retry, reads: () => reads };
    }

    it('reads again once the pod follows the promoted server, and tells the room to recover for the old write it delivered before the retry', async () => {
      const { deliveries, live, ghost, retry } = failedOver(1);
      live(ghost);
      live(retry);
      await until(() => deliveries.length === 5);
      expect(deliveries.map(textOf)).toEqual(['m1', 'm2', 'ghost', 'gap', 'ghost']);
    });

    it('reads again, and neither replays the old write nor tells a gap where the pod never delivered it', async () => {
      const { deliveries, live, retry, reads } = failedOver(2);
      live(retry);
      await until(() => reads() === 4);
      await settled();
      expect(deliveries.map(textOf)).toEqual(['m1', 'm2', 'ghost']);
    });

    it('tells the room to recover when the deposed primary keeps answering, then delivers what it held', async () => {
      const { deliveries, live, retry } = failedOver(Number.POSITIVE_INFINITY);
      live(retry);
      await until(() => deliveries.length === 4);
      expect(deliveries.map(textOf)).toEqual(['m1', 'm2', 'gap', 'ghost']);
    });
  });

  it('holds nothing for a room it stopped following meanwhile', async () => {
    const { history, deliveries, feeds, live } = setUp();
    feeds.holdAll();
    feeds.close('chat');
    live(history.publish('gone'));
    feeds.catchUpAll();
    await settled();
    expect(deliveries).toEqual([]);
  });

  describe('a join that read history from Redis (settled)', () => {
    it('waits until the publication its read saw has arrived live, so the hand-over drops it from the buffer', async () => {
      const { history, deliveries, feeds, live } = setUp();
      live(history.publish('one'));
      // The read (command connection) saw `two`; its channel message (subscriber) is still on its way.
      const two = history.publish('two');
      const waiting = feeds.settled('chat', two.seq);
      expect(waiting).toBeInstanceOf(Promise);
      let handedOverAfter: string[] | undefined;
      void waiting!.then(() => (handedOverAfter = deliveries.map(textOf)));
      await settled();
      expect(handedOverAfter).toBeUndefined();
      live(two);
      await expect(waiting).resolves.toBe(true);
      expect(handedOverAfter).toEqual(['one', 'two']);
      // Already delivered, or an older position: nothing to wait for.
      expect(feeds.settled('chat', two.seq)).toBeUndefined();
      expect(feeds.settled('chat', formatSeq('e1', 1))).toBeUndefined();
      expect(feeds.settled('chat', null)).toBeUndefined();
    });

    it('counts a catch-up into a later life as past the position, and a closed room as served', async () => {
      const { history, feeds } = setUp();
      const old = history.publish('old');
      const waiting = feeds.settled('chat', old.seq)!;
      history.restart('e2');
      feeds.catchUpAll();
      await waiting;
      const other = feeds.open('other');
      feeds.anchor('other', other, { epoch: 'e1', latestPosition: 0 });
      const closing = feeds.settled('other', formatSeq('e1', 3))!;
      feeds.close('other', other);
      await expect(closing).resolves.toBe(true);
    });

    it('waits no longer than its bound for a publication that never arrives (lost in a failover), and says it did not arrive', async () => {
      const history = new FakeHistory();
      const feeds = new RoomFeeds(history.read, () => undefined, undefined, false, 30);
      feeds.anchor('chat', feeds.open('chat'), { epoch: 'e1', latestPosition: 0 });
      await expect(feeds.settled('chat', formatSeq('e1', 1))).resolves.toBe(false);
    });
  });

  describe('before its anchor is known', () => {
    /** A room followed with its anchor still being read, as admission follows a personal room. */
    function opened() {
      const history = new FakeHistory();
      const deliveries: Delivery[] = [];
      const feeds = new RoomFeeds(history.read, (delivery) => deliveries.push(delivery));
      const feed = feeds.open('chat');
      const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
      const broadcast = (frame: string): Broadcast => ({ kind: 'broadcast', room: 'chat', frame });
      const anchorAt = (position: number) => feeds.anchor('chat', feed, { epoch: history.epoch, latestPosition: position });
      return { history, deliveries, feeds, feed, live, broadcast, anchorAt };
    }

    it('says when it delivers live again: after its anchor, once what it held went out, or once closed', async () => {
      const { history, deliveries, feeds, live, anchorAt } = opened();
      const first = history.publish('first');
      live(first);
      const settled = feeds.settled('chat');
      expect(settled).toBeInstanceOf(Promise);
      let seen: string[] | undefined;
      void settled!.then(() => (seen = deliveries.map(textOf)));
      anchorAt(1);
      await settled;
      // A join handed over only now finds `first` already in its buffer, not sent to it afterwards.
      expect(seen).toEqual(['first']);
      expect(feeds.settled('chat')).toBeUndefined();
      expect(feeds.settled('elsewhere')).toBeUndefined();

      const other = feeds.open('other');
      const closing = feeds.settled('other');
      feeds.close('other', other);
      await expect(closing).resolves.toBe(true);
    });

    it('holds live deliveries until the anchor is read, then delivers each once and in order', () => {
      const { history, deliveries, feeds, live, broadcast, anchorAt } = opened();
      history.publish('old');
      const first = history.publish('first');
      live(first);
      feeds.receiveBroadcast(broadcast('inbox'));
      // The anchor was read after `first` was published: it still reaches the member, once.
      const second = history.publish('second');
      live(second);
      expect(deliveries).toEqual([]);
      anchorAt(2);
      live(history.publish('third'));
      expect(deliveries.map(textOf)).toEqual(['first', 'inbox', 'second', 'third']);
    });

    it('catches up from a held publication that skipped positions once the anchor is known', async () => {
      const { history, deliveries, live, anchorAt } = opened();
      history.publish('missed');
      const after = history.publish('after');
      live(after);
      anchorAt(0);
      await settled();
      expect(deliveries.map(textOf)).toEqual(['missed', 'after']);
    });

    it('catches up from the anchor when the pod resynced while it was being read', async () => {
      const { history, deliveries, feeds, live, anchorAt } = opened();
      const before = history.publish('before');
      live(before);
      // The subscriber reconnects: `lost` is published meanwhile and never arrives live.
      feeds.catchUpAll();
      history.publish('lost');
      const after = history.publish('after');
      live(after);
      anchorAt(0);
      await settled();
      expect(deliveries.map(textOf)).toEqual(['before', 'lost', 'after']);
    });

    it('delivers nothing for a room closed before its anchor was read', () => {
      const { history, deliveries, feeds, feed, live } = opened();
      live(history.publish('late'));
      feeds.close('chat');
      feeds.anchor('chat', feed, { epoch: history.epoch, latestPosition: 1 });
      expect(deliveries).toEqual([]);
    });

    it('delivers what waited when the anchor cannot be read, and reports a gap at the next resync instead of replaying history', async () => {
      const { history, deliveries, feeds, feed, live, broadcast } = opened();
      history.publish('before the room was followed');
      live(history.publish('held'));
      feeds.receiveBroadcast(broadcast('inbox'));
      feeds.anchorUnknown('chat', feed);
      expect(deliveries.map(textOf)).toEqual(['held', 'inbox']);
      feeds.catchUpAll();
      await settled();
      // Something was delivered, so catch-up continues from it: nothing to report.
      expect(deliveries.map(textOf)).toEqual(['held', 'inbox']);
    });

    it('reports a gap, not the room\'s old history, when a room whose anchor could not be read resyncs before delivering anything', async () => {
      const { history, deliveries, feeds, feed, live } = opened();
      history.publish('before the room was followed');
      feeds.anchorUnknown('chat', feed);
      feeds.catchUpAll();
      await settled();
      live(history.publish('after'));
      expect(deliveries.map(textOf)).toEqual(['gap', 'after']);
    });
  });

  it('reports no gap for a room whose anchor could not be read when it has no history at the resync: nothing was published in it', async () => {
    const history = new FakeHistory();
    const deliveries: Delivery[] = [];
    // As RedisBroker answers for a room with no history life: no latest seq.
    const read = (room: string, since?: string, acrossFailover?: boolean) =>
      since === undefined && history.publications.length === 0 ? Promise.resolve({ latestSeq: null, recovered: false, publications: [] }) : history.read(room, since, acrossFailover);
    const feeds = new RoomFeeds(read, (delivery) => deliveries.push(delivery));
    feeds.anchorUnknown('chat', feeds.open('chat'));
    feeds.catchUpAll();
    await settled();
    expect(deliveries).toEqual([]);
    // From then on it stands where a room followed without history does: a later outage's catch-up reads its new life whole.
    feeds.holdAll();
    history.publish('during the next outage');
    feeds.catchUpAll();
    await settled();
    await settled();
    live(history.publish('after'));
    expect(deliveries.map(textOf)).toEqual(['during the next outage', 'after']);

    function live(publication: Publication) {
      feeds.receive(publication, parseSeq(publication.seq)!);
    }
  });

  describe('replay for rejoins', () => {
    it('holds what it delivered after a seq while nothing is missing from there, and nothing of another life or beyond its last', () => {
      const { history, feeds, live } = setUp();
      const published = Array.from({ length: 4 }, (_, n) => history.publish(`m${n + 1}`));
      published.forEach(live);
      const texts = (since: number) => feeds.replayAfter('chat', { epoch: 'e1', position: since })?.map(textOf);
      expect(texts(2)).toEqual(['m3', 'm4']);
      // The feed was anchored at 0 and delivered from 1: everything after 0 is held.
      expect(texts(0)).toEqual(['m1', 'm2', 'm3', 'm4']);
      expect(texts(4)).toEqual([]);
      expect(feeds.replayAfter('chat', { epoch: 'e0', position: 2 })).toBeUndefined();
      expect(feeds.replayAfter('chat', { epoch: 'e1', position: 5 })).toBeUndefined();
    });

    it('restarts after a skipped position, so it never answers across what it did not deliver in order', async () => {
      const { history, feeds, live } = setUp();
      live(history.publish('m1'));
      history.publish('m2');
      const third = history.publish('m3');
      // m2 never arrives live: the room catches up from history, delivering m2 then m3.
      live(third);
      expect(feeds.replayAfter('chat', { epoch: 'e1', position: 1 })).toBeUndefined();
      await settled();
      expect(feeds.replayAfter('chat', { epoch: 'e1', position: 1 })?.map(textOf)).toEqual(['m2', 'm3']);
    });

    it('answers nothing across a gap, nor for a room it no longer follows', async () => {
      const { history, feeds, live } = setUp();
      live(history.publish('before'));
      history.restart('e2');
      history.publish('new life');
      feeds.catchUpAll();
      await settled();
      expect(feeds.replayAfter('chat', { epoch: 'e1', position: 0 })).toBeUndefined();
      feeds.close('chat');
      expect(feeds.replayAfter('chat', { epoch: 'e2', position: 0 })).toBeUndefined();
    });

    it('keeps at most REDIS_REPLAY_SIZE publications, and none with 0', () => {
      const small = setUp(2);
      Array.from({ length: 5 }, (_, n) => small.history.publish(`m${n + 1}`)).forEach(small.live);
      expect(small.feeds.replayAfter('chat', { epoch: 'e1', position: 3 })?.map(textOf)).toEqual(['m4', 'm5']);
      // From further back than it holds: Redis must answer.
      expect(small.feeds.replayAfter('chat', { epoch: 'e1', position: 2 })).toBeUndefined();
      const none = setUp(0);
      Array.from({ length: 3 }, (_, n) => none.history.publish(`m${n + 1}`)).forEach(none.live);
      expect(none.deliveries.map(textOf)).toEqual(['m1', 'm2', 'm3']);
      expect(none.feeds.replayAfter('chat', { epoch: 'e1', position: 2 })).toBeUndefined();
    });

    it('keeps nothing for personal rooms', () => {
      const deliveries: Delivery[] = [];
      const feeds = new RoomFeeds(async () => ({ latestSeq: null, recovered: false, publications: [] }), (delivery) => deliveries.push(delivery));
      const feed = feeds.open('user:ann');
      feeds.anchor('user:ann', feed, { epoch: 'e1', latestPosition: 0 });
      const publication: Publication = { kind: 'publication', room: 'user:ann', seq: formatSeq('e1', 1), event: 'notification', body: '{}', publishedAtMs: Date.now() };
      feeds.receive(publication, parseSeq(publication.seq)!);
      expect(deliveries).toHaveLength(1);
      expect(feeds.replayAfter('user:ann', { epoch: 'e1', position: 0 })).toBeUndefined();
    });
  });

  it('asks for the anchor of a feed someone waits on (a live delivery held back, a join waiting), and only while it is unknown', async () => {
    const deliveries: Delivery[] = [];
    const askedFor: string[] = [];
    const feeds = new RoomFeeds(async () => ({ latestSeq: null, recovered: false, publications: [] }), (delivery) => deliveries.push(delivery), undefined, false, undefined, (room) => askedFor.push(room));
    const feed = feeds.open('user:ann');
    const asked = () => askedFor.length;
    expect(asked()).toBe(0);
    const publication: Publication = { kind: 'publication', room: 'user:ann', seq: formatSeq('e1', 1), event: 'notification', body: '{}', publishedAtMs: Date.now() };
    feeds.receive(publication, parseSeq(publication.seq)!);
    feeds.receiveBroadcast({ kind: 'broadcast', room: 'user:ann', frame: 'hello' });
    expect(asked()).toBe(2);
    const waiting = feeds.settled('user:ann');
    expect(askedFor).toEqual(['user:ann', 'user:ann', 'user:ann']);
    feeds.anchor('user:ann', feed, { epoch: 'e1', latestPosition: 0 });
    await waiting;
    expect(deliveries.map((delivery) => delivery.kind)).toEqual(['publication', 'broadcast']);
    feeds.receive({ ...publication, seq: formatSeq('e1', 2) }, { epoch: 'e1', position: 2 });
    expect(feeds.settled('user:ann')).toBeUndefined();
    expect(asked()).toBe(3);
  });
});

/** Waits for a condition, a turn of the event loop (or a timer) at a time. */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
