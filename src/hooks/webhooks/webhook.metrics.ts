import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../../metrics/metrics.service';

/** Why events are given up (herald_webhook_events_dropped_total's `reason`). */
const DROP_REASONS = ['retry_window', 'queue_full', 'shutdown'];
/** The outcomes alerts are written on; others (3xx, 1xx) appear once they happen. */
const REQUEST_OUTCOMES = ['2xx', '4xx', '5xx', 'timeout', 'error'];

/**
 * The webhooks' metrics, in the app's registry beside the others. Every labelled series an
 * alert is written on exists from start-up at 0: a series that appears only with its first
 * drop leaves `increase(...)` nothing to compare with.
 */
@Injectable()
export class WebhookMetrics {
  readonly queued: Counter;
  readonly sent: Counter;
  readonly retried: Counter;
  readonly dropped: Counter<'reason'>;
  readonly requests: Counter<'outcome'>;
  readonly requestSeconds: Histogram;
  readonly queueDepth: Gauge;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.queued = new Counter({ name: 'herald_webhook_events_queued_total', help: 'Webhook events queued by this pod', registers });
    this.sent = new Counter({ name: 'herald_webhook_events_sent_total', help: 'Webhook events a receiver acknowledged with a 2xx', registers });
    this.retried = new Counter({ name: 'herald_webhook_events_retried_total', help: 'Webhook events in an attempt that failed and will be retried', registers });
    this.dropped = new Counter({
      name: 'herald_webhook_events_dropped_total',
      help: 'Webhook events given up: retry_window (WEBHOOK_RETRY_S passed), queue_full (WEBHOOK_QUEUE_MAX reached), shutdown (in-process queue, pod stopped)',
      labelNames: ['reason'],
      registers,
    });
    this.requests = new Counter({ name: 'herald_webhook_requests_total', help: 'Webhook POSTs by outcome (2xx, 4xx, 5xx, timeout, error)', labelNames: ['outcome'], registers });
    this.requestSeconds = new Histogram({
      name: 'herald_webhook_request_seconds',
      help: 'Time a webhook POST took',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    for (const reason of DROP_REASONS) this.dropped.inc({ reason }, 0);
    for (const outcome of REQUEST_OUTCOMES) this.requests.inc({ outcome }, 0);
    this.queueDepth = new Gauge({ name: 'herald_webhook_queue_depth', help: 'Webhook events waiting, as last seen by the pod delivering them', registers });
  }
}
