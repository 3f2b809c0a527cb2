import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../../metrics/metrics.service';

@Injectable()
export class JoinProxyMetrics {
  readonly answers: Counter<'answer'>;
  readonly seconds: Histogram;
  readonly cacheHits: Counter;
  readonly waiting: Gauge;
  /** What `waiting` reports when scraped; JoinProxy points it at its slots. */
  countWaiting: () => number = () => 0;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.answers = new Counter({
      name: 'herald_join_proxy_answers_total',
      help: 'Join proxy requests by answer: allow, deny, timeout, error (429, 5xx, network, unreadable answer)',
      labelNames: ['answer'],
      registers,
    });
    this.seconds = new Histogram({
      name: 'herald_join_proxy_request_seconds',
      help: 'Time the join proxy backend took to answer',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    });
    this.cacheHits = new Counter({ name: 'herald_join_proxy_cache_hits_total', help: 'Joins allowed by a remembered decision, without asking the backend', registers });
    const countWaiting = () => this.countWaiting();
    this.waiting = new Gauge({
      name: 'herald_join_proxy_waiting',
      help: 'Join proxy requests waiting for one of the JOIN_PROXY_CONCURRENCY slots',
      registers,
      collect() {
        this.set(countWaiting());
      },
    });
  }
}
