import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HeraldConfig } from '../config/herald.config';
import { Broker } from './broker';
import { BrokerUnavailableFilter } from './broker-unavailable.filter';
import { MemoryBroker } from './memory.broker';
import { RedisBroker } from './redis.broker';

/**
 * Picks the broker: Redis when REDIS_URL is set, the in-process one otherwise. The broker
 * connects in startHerald (herald.app.ts), outside Nest's module initialisation, so a bad
 * REDIS_URL surfaces as a start-up error rather than a process exit inside Nest.
 */
export function createBroker(config: HeraldConfig): Broker {
  const inbox = { inboxSize: config.inboxSize, inboxTtlDays: config.inboxTtlDays };
  if (!config.redisUrl) return new MemoryBroker({ historySize: config.historySize, historyTtlS: config.historyTtlS, ...inbox });
  return new RedisBroker({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    historySize: config.historySize,
    historyTtlS: config.historyTtlS,
    ...inbox,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    // Section 3 terminates a connection silent for 2 heartbeats; a dead pod's presence goes as fast.
    presenceTtlMs: 2 * config.heartbeatMs,
    presenceRefreshMs: Math.max(50, Math.floor(config.heartbeatMs / 2)),
  });
}

@Global()
@Module({
  providers: [{ provide: Broker, inject: [HeraldConfig], useFactory: createBroker }, { provide: APP_FILTER, useClass: BrokerUnavailableFilter }],
  exports: [Broker],
})
export class BrokerModule implements OnApplicationShutdown {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  async onApplicationShutdown(): Promise<void> {
    await this.broker.close();
  }
}
