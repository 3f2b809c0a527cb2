import { eventually } from '../../test/support/eventually';
import { MemoryEngine } from '../broker/memory/memory.engine';
import { HeraldConfig } from '../config/herald.config';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsBatchService } from './notifications-batch.service';
import { NotificationsService } from './notifications.service';
import { PublishConflictError } from './publish-conflict.error';

describe('NotificationsBatchService', () => {
  let engine: MemoryEngine;
  let batches: NotificationsBatchService;
  /** Each publish the broker was handed, as `room type`, in the order it was handed. */
  let handed: string[];
  /** Holds the claim of the id `slow` (as a silent Redis shard would) until released. */
  let releaseSlowClaim: (outcome?: Error) => void;

  beforeEach(() => {
    engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const notifications = new NotificationsService(engine.broker, new MetricsService());
    batches = new NotificationsBatchService(notifications, engine.broker, { maxPublishBytes: 65_536 } as HeraldConfig);
    handed = [];
    const publish = engine.broker.publish.bind(engine.broker);
    jest.spyOn(engine.broker, 'publish').mockImplementation((room, event, body, options) => {
      handed.push(`${room} ${(body as { type: string }).type}`);
      return publish(room, event, body, options);
    });
    const claim = engine.broker.claimPublishIdDurably.bind(engine.broker);
    const slowClaimReleased = new Promise<Error | undefined>((resolve) => (releaseSlowClaim = resolve));
    jest.spyOn(engine.broker, 'claimPublishIdDurably').mockImplementation(async (key, fingerprint) => {
      if (key !== 'slow') return claim(key, fingerprint);
      const failure = await slowClaimReleased;
      if (failure) throw failure;
      return claim(key, fingerprint);
    });
  });

  afterEach(() => engine.close());

  it("hands a notification whose claim waits only before the later ones that share a room with it, each room's in request order", async () => {
    const answer = batches.publish([
      { rooms: ['orders:1'], type: 'first', payload: {}, id: 'slow' },
      { rooms: ['orders:2'], type: 'elsewhere', payload: {} },
      { users: ['ann'], rooms: ['orders:1'], type: 'after-first', payload: {} },
      { users: ['ann'], type: 'after-after-first', payload: {} },
      { rooms: ['orders:3'], type: 'elsewhere-too', payload: {}, id: 'quick' },
    ]);
    // A silent shard holding the first claim no longer holds notifications to other rooms.
    await eventually(() => expect(handed).toEqual(['orders:2 elsewhere', 'orders:3 elsewhere-too']));
    releaseSlowClaim();
    const { accepted, failed } = await answer;
    expect({ accepted, failed }).toEqual({ accepted: 5, failed: 0 });
    expect(handed).toEqual(['orders:2 elsewhere', 'orders:3 elsewhere-too', 'orders:1 first', 'orders:1 after-first', 'user:ann after-first', 'user:ann after-after-first']);
  });

  it('hands the later notifications to its rooms once a waiting claim fails, and answers that item alone with its error', async () => {
    const answer = batches.publish([
      { rooms: ['orders:1'], type: 'refused', payload: {}, id: 'slow' },
      { rooms: ['orders:1'], type: 'next', payload: {} },
      { rooms: ['orders:9'], type: 'elsewhere', payload: {}, id: 'quick' },
    ]);
    // Once a notification to another room has been handed, the one after the held claim would have been too.
    await eventually(() => expect(handed).toEqual(['orders:9 elsewhere']));
    releaseSlowClaim(new PublishConflictError('slow'));
    const { accepted, failed, results } = await answer;
    expect({ accepted, failed }).toEqual({ accepted: 2, failed: 1 });
    expect(results[0]).toEqual({ error: { statusCode: 409, message: expect.stringMatching(/^notifications\.0: /) } });
    expect(handed).toEqual(['orders:9 elsewhere', 'orders:1 next']);
  });
});
