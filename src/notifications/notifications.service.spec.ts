import { MemoryEngine } from '../broker/memory/memory.engine';
import { ReplicasUnavailableError } from '../broker/redis/redis.connection';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from './notifications.service';

describe('NotificationsService', () => {
  const counted = async (metrics: MetricsService) => ({
    published: (await metrics.notificationsPublished.get()).values[0]?.value ?? 0,
    unavailable: (await metrics.publishesUnavailable.get()).values.map(({ labels, value }) => [labels.outcome, value]),
    refusedForReplicas: (await metrics.publishesRefusedForReplicas.get()).values[0]?.value ?? 0,
  });

  it("answers 503 when only the id claim's replica wait fails, and records and tells what the rooms stored all the same", async () => {
    // A Cluster whose claim shard has too few replicas: the rooms stored and delivered the
    // notification, and a retry would be a duplicate no one is told of.
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const metrics = new MetricsService();
    const notifications = new NotificationsService(engine.broker, metrics);
    const told: string[] = [];
    notifications.onStored(({ room, id }) => void told.push(`${room} ${id}`));
    const replicated = Promise.reject(new ReplicasUnavailableError('publish id claim', 0, 1));
    replicated.catch(() => undefined);
    jest.spyOn(engine.broker, 'claimPublishIdDurably').mockResolvedValue({ claim: 'first', replicated });
    try {
      await expect(notifications.publish({ id: 'n1', users: ['ann'], rooms: ['news:1'], type: 't', payload: {} })).rejects.toBeInstanceOf(ReplicasUnavailableError);
      expect(told.sort()).toEqual(['news:1 n1', 'user:ann n1']);
      expect(await counted(metrics)).toEqual({ published: 2, unavailable: [['unconfirmed', 1]], refusedForReplicas: 1 });
    } finally {
      await engine.close();
    }
  });

  it('counts a notification refused for want of replicas once, however many of its writes were (its id claim and each room)', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const metrics = new MetricsService();
    const notifications = new NotificationsService(engine.broker, metrics);
    const refused = () => {
      const failure = Promise.reject(new ReplicasUnavailableError('publish', 0, 1));
      failure.catch(() => undefined);
      return failure;
    };
    jest.spyOn(engine.broker, 'claimPublishIdDurably').mockImplementation(async () => ({ claim: 'first', replicated: refused() }));
    jest.spyOn(engine.broker, 'publish').mockImplementation(refused);
    try {
      await expect(notifications.publish({ id: 'n2', users: ['ann', 'bob'], rooms: ['news:1'], type: 't', payload: {} })).rejects.toBeInstanceOf(ReplicasUnavailableError);
      expect(await counted(metrics)).toEqual({ published: 0, unavailable: [['unconfirmed', 1]], refusedForReplicas: 1 });
    } finally {
      await engine.close();
    }
  });
});
