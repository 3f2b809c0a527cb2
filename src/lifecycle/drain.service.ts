import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { CloseCode } from '@herald/client/protocol';
import { HeraldConfig } from '../config/herald.config';
import { ConnectionHub } from '../connections/connection.hub';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Graceful shutdown (section 7): readyz turns 503 at once so the load balancer stops sending
 * traffic, new connections are refused, and after DRAIN_DELAY_MS every client is closed with
 * 1012 spread over DRAIN_SPREAD_MS, so reconnects land on other pods as a ramp, not a spike.
 */
@Injectable()
export class DrainService implements OnApplicationShutdown {
  private readonly logger = new Logger(DrainService.name);
  private drainPromise: Promise<void> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly hub: ConnectionHub,
    private readonly config: HeraldConfig,
    private readonly metrics: MetricsService,
  ) {}

  get draining(): boolean {
    return this.drainPromise !== undefined;
  }

  /**
   * Starts the drain (idempotent); resolves once every connection has been sent its 1012.
   * `skipDelayWhenIdle`: with no connection open, stop without DRAIN_DELAY_MS. For Ctrl-C at a
   * terminal, where no load balancer is still routing publishes to this process; SIGTERM from
   * an orchestrator always waits, since publishes keep arriving until the endpoints update.
   */
  drain(options: { skipDelayWhenIdle?: boolean } = {}): Promise<void> {
    this.drainPromise ??= this.run(options.skipDelayWhenIdle === true && this.hub.size === 0);
    return this.drainPromise;
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async run(skipDelay: boolean): Promise<void> {
    this.metrics.drains.inc();
    const drainDelayMs = skipDelay ? 0 : this.config.drainDelayMs;
    this.logger.log({ message: skipDelay ? 'No connections: stopping without the drain delay' : 'Draining', connections: this.hub.size, drainDelayMs, drainSpreadMs: this.config.drainSpreadMs });
    await this.sleep(drainDelayMs);
    const connections = [...this.hub.all()];
    const batches = Math.max(1, Math.min(connections.length, Math.ceil(this.config.drainSpreadMs / 10)));
    const perBatch = Math.ceil(connections.length / batches);
    const stepMs = batches > 1 ? this.config.drainSpreadMs / (batches - 1) : 0;
    for (let batch = 0; batch < batches; batch++) {
      if (batch > 0) await this.sleep(stepMs);
      for (const connection of connections.slice(batch * perBatch, (batch + 1) * perBatch)) connection.close(CloseCode.ServiceRestart);
    }
    this.logger.log({ message: 'Drained', closed: connections.length });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}
