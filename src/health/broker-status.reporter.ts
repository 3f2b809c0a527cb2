import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Broker } from '../broker/broker';
import { MetricsService } from '../metrics/metrics.service';

/** Mirrors the broker's availability into herald_broker_up and the log, once per change. */
@Injectable()
export class BrokerStatusReporter implements OnModuleInit {
  private readonly logger = new Logger(BrokerStatusReporter.name);

  constructor(
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.brokerUp.set(this.broker.available ? 1 : 0);
    this.broker.onAvailabilityChange((available) => {
      this.metrics.brokerUp.set(available ? 1 : 0);
      if (available) this.logger.log({ message: 'Broker available' });
      else this.logger.warn({ message: 'Broker unavailable: readyz is 503 and new connections are refused until it returns' });
    });
  }
}
