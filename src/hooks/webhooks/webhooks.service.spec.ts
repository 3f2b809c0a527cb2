import { HeraldConfig, WebhookSettings } from '../../config/herald.config';
import { MetricsService } from '../../metrics/metrics.service';
import { WebhookMetrics } from './webhook.metrics';
import { WebhooksService } from './webhooks.service';

/** What the fake Redis-backed drivers were asked, in order. */
const asked: string[] = [];
/** Fails every call still waiting on the fake drivers' silent Redis. */
let cutConnection: () => void;

jest.mock('./webhook-drivers', () => ({
  // Drivers on a Redis that has gone silent: every call waits until the connection is cut.
  createWebhookDrivers: () => {
    const waiters: Array<(error: Error) => void> = [];
    const silentCall = (name: string) => () => {
      asked.push(name);
      return new Promise<void>((_, reject) => waiters.push(reject));
    };
    cutConnection = () => waiters.splice(0).forEach((reject) => reject(new Error('connection destroyed')));
    return {
      queue: { durable: true, release: silentCall('lease release') },
      // As RedisActivityTracker.close: its hand-over failing is logged, not thrown.
      tracker: { close: () => silentCall('activity hand-over')().catch(() => undefined) },
      unread: {},
      connect: async () => undefined,
      close: async (withinMs?: number) => void asked.push(`close within ${withinMs} ms`),
      lastCallsMs: 100,
      destroy: () => {
        asked.push('destroy');
        cutConnection();
      },
    };
  },
}));

describe('WebhooksService', () => {
  it("bounds its last Redis calls on shutdown as a whole, asking them together, then cuts the silent Redis's connection", async () => {
    const settings = { url: 'http://127.0.0.1:9/hooks', secret: 's'.repeat(32), batchMax: 100, batchMs: 500, unreadAfterS: 0, retryS: 60, timeoutMs: 10_000, queueMax: 1000 } as WebhookSettings;
    const hooks = new WebhooksService({ webhooks: settings } as HeraldConfig, {} as never, {} as never, {} as never, new WebhookMetrics(new MetricsService()));
    await hooks.onApplicationShutdown();
    // One after the other, each waited out its own timeouts: the lease waited for the hand-over,
    // and the connection's graceful close its own after the deadline.
    expect(asked).toEqual(['activity hand-over', 'lease release', 'destroy', 'close within 0 ms']);
  });
});
