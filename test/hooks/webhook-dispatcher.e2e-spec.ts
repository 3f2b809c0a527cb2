import { Logger } from '@nestjs/common';
import { MetricsService } from '../../src/metrics/metrics.service';
import { MemoryWebhookQueue } from '../../src/hooks/webhooks/memory-webhook.queue';
import { WebhookDispatcher } from '../../src/hooks/webhooks/webhook.dispatcher';
import { WebhookMetrics } from '../../src/hooks/webhooks/webhook.metrics';
import { HookReceiver } from '../support/hook-receiver';

/** The dispatcher of a pod running alone (its queue in the process), against a real receiver. */
describe('webhook dispatcher of a pod stopping without Redis', () => {
  let receiver: HookReceiver;
  beforeAll(async () => {
    receiver = await HookReceiver.start();
  });
  afterAll(() => receiver.close());

  const sentCount = async (metrics: WebhookMetrics) => (await metrics.sent.get()).values[0]?.value ?? 0;
  const droppedCount = async (metrics: WebhookMetrics, reason: string) => (await metrics.dropped.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0;

  it('makes its last attempt within one WEBHOOK_TIMEOUT_MS however many batches are left, and counts what it could not send as dropped', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // Each batch is answered well within the timeout, but two of them take longer than it.
    const timeoutMs = 1000;
    receiver.answer = () => ({ status: 204, delayMs: 600 });
    const metrics = new WebhookMetrics(new MetricsService());
    const queue = new MemoryWebhookQueue(100);
    const settings = { url: receiver.url, secret: 'hooks-secret-for-tests-0123456789', batchMax: 1, batchMs: 50, unreadAfterS: 0, retryS: 3600, timeoutMs, queueMax: 100 };
    const dispatcher = new WebhookDispatcher(queue, settings, metrics);
    try {
      await queue.enqueue(['a', 'b', 'c', 'd', 'e'].map((user, i) => ({ id: `evt-${i}`, type: 'user.online' as const, user })));
      // Not started: close() goes straight to the last attempt, one POST per event.
      await dispatcher.close();
      // The second POST starts about 600 ms in, with only what is left of the timeout: it cannot
      // be answered in time. Before, it had a timeout of its own (the stop took 1.2 s, and a third
      // was not even tried), and the three events left were lost without a word or a count.
      const sent = await sentCount(metrics);
      expect(sent).toBeLessThanOrEqual(1);
      expect(sent + (await droppedCount(metrics, 'shutdown'))).toBe(5);
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ message: 'Webhook events lost with this pod (no Redis to keep them)', count: 5 - sent }));
      // Nothing is tried again after the last attempt, and its failed POST does not say otherwise.
      expect(warn).not.toHaveBeenCalledWith(expect.objectContaining({ message: expect.stringContaining('retrying') }));
    } finally {
      warn.mockRestore();
      await dispatcher.close();
    }
  });
});
