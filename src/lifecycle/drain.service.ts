import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { CloseCode } from '@herald/client/protocol';
import { HeraldConfig } from '../config/herald.config';
import { ConnectionHub } from '../connections/connection.hub';
import { MetricsService } from '../metrics/metrics.service';
import { RoomsService } from '../rooms/rooms.service';

/** How often the drain looks whether its closed connections are gone (it waits at most CLOSE_TIMEOUT_MS). */
const DEPARTURE_CHECK_MS = 20;

/**
 * Graceful shutdown (section 7): readyz turns 503 at once so the load balancer stops sending
 * traffic, new connections are refused, and after DRAIN_DELAY_MS every client is closed with
 * 1012 spread over DRAIN_SPREAD_MS, so reconnects land on other pods as a ramp, not a spike.
 */
@Injectable()
export class DrainService implements OnApplicationShutdown {
  private readonly logger = new Logger(DrainService.name);
  private drainPromise: Promise<number> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly hub: ConnectionHub,
    private readonly config: HeraldConfig,
    private readonly metrics: MetricsService,
    private readonly rooms: RoomsService,
  ) {}

  get draining(): boolean {
    return this.drainPromise !== undefined;
  }

  /**
   * Starts the drain (idempotent); resolves once every connection has been sent its 1012 and is
   * gone and cleaned up, or CLOSE_TIMEOUT_MS after its 1012, with that moment's deadline
   * (Date.now() ms): whatever is still open, HTTP connections included, is cut by then.
   * `skipDelayWhenIdle`: with no connection open, stop without DRAIN_DELAY_MS. For Ctrl-C at a
   * terminal, where no load balancer is still routing publishes to this process; SIGTERM from
   * an orchestrator always waits, since publishes keep arriving until the endpoints update.
   */
  drain(options: { skipDelayWhenIdle?: boolean } = {}): Promise<number> {
    this.drainPromise ??= this.run(options.skipDelayWhenIdle === true && this.hub.size === 0);
    return this.drainPromise;
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async run(skipDelay: boolean): Promise<number> {
    this.metrics.drains.inc();
    const drainDelayMs = skipDelay ? 0 : this.config.drainDelayMs;
    this.logger.log({ message: skipDelay ? 'No connections: stopping without the drain delay' : 'Draining', connections: this.hub.size, drainDelayMs, drainSpreadMs: this.config.drainSpreadMs });
    await this.sleep(drainDelayMs);
    const connections = [...this.hub.all()];
    // A batch every 10 ms at most; then as many batches as the rounded-up batch size fills (201
    // connections in 200 batches fill 101 of two), spread over the whole DRAIN_SPREAD_MS.
    const perBatch = Math.ceil(connections.length / Math.max(1, Math.min(connections.length, Math.ceil(this.config.drainSpreadMs / 10))));
    const batches = Math.max(1, Math.ceil(connections.length / perBatch));
    const stepMs = batches > 1 ? this.config.drainSpreadMs / (batches - 1) : 0;
    // Each batch on its own schedule from the start: sleeping a step after each batch's work
    // stretched a busy pod's spread (5,000 closes over 1 s took 2.3 s in bench/).
    const startedMs = this.now();
    for (let batch = 0; batch < batches; batch++) {
      if (batch > 0) await this.sleep(Math.max(0, startedMs + batch * stepMs - this.now()));
      for (const connection of connections.slice(batch * perBatch, (batch + 1) * perBatch)) connection.close(CloseCode.ServiceRestart);
    }
    const deadline = Date.now() + this.config.closeTimeoutMs;
    const left = await this.departures(deadline);
    this.logger.log({ message: 'Drained', closed: connections.length, ...(left > 0 ? { stillOpen: left } : {}) });
    return deadline;
  }

  /**
   * Waits, within CLOSE_TIMEOUT_MS, until the closed connections are gone (each client answers
   * its 1012, or ws drops it after CLOSE_TIMEOUT_MS) and cleaned up: each one's presence `left`,
   * which members on other pods hear, goes through the broker, and the broker closes as soon as
   * the drain ends. Returns how many were still open at `deadline`.
   */
  private async departures(deadline: number): Promise<number> {
    while (this.hub.size > 0 && Date.now() < deadline) await this.sleep(DEPARTURE_CHECK_MS);
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    await Promise.race([this.rooms.departed(), expiry]);
    clearTimeout(timer);
    return this.hub.size;
  }

  /** Monotonic milliseconds; a test gives its own to make work take time. */
  protected now(): number {
    return performance.now();
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
