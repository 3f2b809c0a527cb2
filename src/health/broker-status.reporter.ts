import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Broker } from '../broker/broker';
import { Engine } from '../broker/engine';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Mirrors the broker's availability into herald_broker_up and the log, once per change, and the
 * engine's replication health (shard subscribers, failovers, refusals) and in-memory inbox
 * evictions into metrics at each scrape.
 */
@Injectable()
export class BrokerStatusReporter implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(BrokerStatusReporter.name);
  private reportedFailovers = 0;
  private reportedEvictions = 0;
  /** The application is closing: the broker's connection goes with it, which is no outage. */
  private shuttingDown = false;

  constructor(
    private readonly broker: Broker,
    private readonly engine: Engine,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.brokerUp.set(this.broker.available ? 1 : 0);
    this.broker.onAvailabilityChange((available) => {
      this.metrics.brokerUp.set(available ? 1 : 0);
      if (available) this.logger.log({ message: 'Broker available' });
      // An alert on this line would otherwise fire at every rollout.
      else if (!this.shuttingDown) this.logger.warn({ message: 'Broker unavailable: readyz is 503 and new connections are refused until it returns' });
    });
    this.metrics.onScrape(() => this.reportHealth());
  }

  /** Nest calls it before any module's onApplicationShutdown, where the engine closes. */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  private reportHealth(): void {
    const evicted = this.engine.inbox.evictedInboxes;
    this.metrics.inboxEvictions.inc(Math.max(0, evicted - this.reportedEvictions));
    this.reportedEvictions = evicted;
    const health = this.engine.health;
    if (!health) return;
    // Shards come and go with failovers and resharding: only the current ones are shown.
    this.metrics.redisShardSubscriberUp.reset();
    for (const { shard, up } of health.shards) this.metrics.redisShardSubscriberUp.set({ shard }, up ? 1 : 0);
    this.metrics.redisFailovers.inc(Math.max(0, health.failovers - this.reportedFailovers));
    this.reportedFailovers = health.failovers;
  }
}
