import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { HeraldConfig } from '../config/herald.config';
import { Broker } from './broker';
import { MemoryBroker } from './memory.broker';

/** Picks the broker: Redis when REDIS_URL is set, the in-process one otherwise. */
export function createBroker(config: HeraldConfig): Broker {
  return new MemoryBroker({ historySize: config.historySize, historyTtlS: config.historyTtlS });
}

@Global()
@Module({
  providers: [{ provide: Broker, inject: [HeraldConfig], useFactory: createBroker }],
  exports: [Broker],
})
export class BrokerModule implements OnApplicationShutdown {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  async onApplicationShutdown(): Promise<void> {
    await this.broker.close();
  }
}
