import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TalliedCounter } from './tallied-counter';

/**
 * The process's own metrics (CPU, memory, GC, event-loop lag), collected once per process: the
 * collectors start observers that cannot be stopped, so one per app instance would leak.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * Herald's Prometheus metrics. Each app instance has its own registry, so several instances
 * in one process (tests) never collide. Hot-path counters are bumped once per broadcast, or
 * tallied (TalliedCounter); the connection and room gauges are read from the hub at each scrape.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly connections = new Gauge({ name: 'herald_connections', help: 'Open WebSocket connections on this pod', registers: [this.registry] });
  readonly rooms = new Gauge({ name: 'herald_rooms', help: 'Rooms with at least one local member', registers: [this.registry] });
  /** Bumped per client frame and per frame sent to one connection: tallied, counted at each scrape. */
  readonly framesIn = new TalliedCounter(new Counter({ name: 'herald_frames_in_total', help: 'Client frames received, by event', labelNames: ['event'], registers: [this.registry] }), 'event');
  readonly framesOut = new TalliedCounter(
    new Counter({ name: 'herald_frames_out_total', help: 'Frames sent to one connection (welcome, replies, errors), by event; broadcast frames count in herald_deliveries_total', labelNames: ['event'], registers: [this.registry] }),
    'event',
  );
  readonly notificationsPublished = new Counter({ name: 'herald_notifications_published_total', help: 'Notifications accepted by the HTTP API (one per target room)', registers: [this.registry] });
  readonly deliveries = new Counter({ name: 'herald_deliveries_total', help: 'Frames fanned out to sockets by broadcasts', registers: [this.registry] });
  readonly closeCodes = new Counter({ name: 'herald_close_codes_total', help: 'Connections closed, by close code', labelNames: ['code'], registers: [this.registry] });
  readonly publishToSend = new Histogram({
    name: 'herald_publish_to_send_seconds',
    help: 'Time from publish to the frame being queued on local sockets',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly brokerUp = new Gauge({ name: 'herald_broker_up', help: '1 when the broker is reachable', registers: [this.registry] });
  readonly historyReplays = new Counter({ name: 'herald_history_replays_total', help: 'Joins with since, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly drains = new Counter({ name: 'herald_drains_total', help: 'Graceful drains started', registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'herald_rate_limited_total', help: 'Client frames dropped by the rate limit', registers: [this.registry] });
  readonly slowConsumerCloses = new Counter({ name: 'herald_slow_consumer_closes_total', help: 'Connections closed for a full send buffer', registers: [this.registry] });
  readonly rejectedConnections = new Counter({ name: 'herald_rejected_connections_total', help: 'Connections refused at the handshake, by reason', labelNames: ['reason'], registers: [this.registry] });

  readonly redisShardSubscriberUp = new Gauge({ name: 'herald_redis_shard_subscriber_up', help: '1 while the subscriber connection to the shard (its primary) is up', labelNames: ['shard'], registers: [this.registry] });
  readonly inboxEvictions = new Counter({ name: 'herald_inbox_evictions_total', help: 'In-memory inboxes dropped whole to stay within INBOX_MEMORY_MAX_MB (embedded broker)', registers: [this.registry] });
  readonly redisFailovers = new Counter({ name: 'herald_redis_failovers_total', help: 'Redis primary changes this pod followed (Sentinel switch-master, Cluster primaries changing)', registers: [this.registry] });
  readonly publishesUnavailable = new Counter({
    name: 'herald_publishes_unavailable_total',
    help: 'Notifications (a publish, or a valid batch item) answered 503: not_stored when the broker could not take them, unconfirmed when it may have stored them without confirming',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly publishesRefusedForReplicas = new Counter({ name: 'herald_publishes_refused_replicas_total', help: 'Publishes answered 503 because fewer than REDIS_MIN_REPLICAS replicas acknowledged them in time', registers: [this.registry] });
  private readonly scrapeListeners: (() => void)[] = [() => this.framesIn.flush(), () => this.framesOut.flush()];

  /** Runs before every scrape: for values read from their owner rather than pushed. */
  onScrape(listener: () => void): void {
    this.scrapeListeners.push(listener);
  }

  /** The exposition: this instance's metrics and the process's. */
  scrape(): Promise<string> {
    for (const listener of this.scrapeListeners) listener();
    return Registry.merge([processMetrics(), this.registry]).metrics();
  }
}
