import { Delivery, HistoryResult, Publication } from '../broker';
import { formatSeq, parseSeq } from '../seq';
import { RoomFeeds } from './room.feeds';

/** A room's history as Redis would answer it: one life (epoch) at a time. */
class FakeHistory {
  epoch = 'e1';
  publications: Publication[] = [];

  publish(text: string, publishedAtMs = Date.now()): Publication {
    const publication: Publication = { kind: 'publication', room: 'chat', seq: formatSeq(this.epoch, this.publications.length + 1), event: 'message', body: JSON.stringify({ text }), publishedAtMs };
    this.publications.push(publication);
    return publication;
  }

  /** Redis lost its data: a new life, empty. */
  restart(epoch: string): void {
    this.epoch = epoch;
    this.publications = [];
  }

  read = async (_room: string, since?: string): Promise<HistoryResult> => {
    const latestSeq = formatSeq(this.epoch, this.publications.length);
    if (since === undefined) return { latestSeq, recovered: false, publications: [] };
    const from = parseSeq(since)!;
    if (from.epoch !== this.epoch) return { latestSeq, recovered: false, publications: [] };
    return { latestSeq, recovered: true, publications: this.publications.slice(from.position) };
  };
}

const textOf = (delivery: Delivery) => (delivery.kind === 'publication' ? (JSON.parse(delivery.body) as { text: string }).text : delivery.kind);

describe('RoomFeeds', () => {
  function setUp() {
    const history = new FakeHistory();
    const deliveries: Delivery[] = [];
    const feeds = new RoomFeeds(history.read, (delivery) => deliveries.push(delivery));
    const feed = feeds.open('chat');
    feeds.anchor(feed, { epoch: 'e1', latestPosition: 0 });
    const live = (publication: Publication) => feeds.receive(publication, parseSeq(publication.seq)!);
    return { history, deliveries, feeds, live };
  }

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
});
