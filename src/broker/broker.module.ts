import { BeforeApplicationShutdown, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HeraldConfig } from '../config/herald.config';
import { EarlyClose } from '../lifecycle/early-close';
import { Broker } from './broker';
import { BrokerUnavailableFilter } from './broker-unavailable.filter';
import { Engine } from './engine';
import { createEngine } from './engine.factory';
import { InboxStore } from './inbox.store';
import { PresenceStore } from './presence.store';

/**
 * Provides the engine's three seams. The engine connects in startHerald (herald.app.ts),
 * outside Nest's module initialisation, so a bad REDIS_URL surfaces as a start-up error
 * rather than a process exit inside Nest.
 */
@Global()
@Module({
  providers: [
    { provide: Engine, inject: [HeraldConfig], useFactory: createEngine },
    { provide: Broker, inject: [Engine], useFactory: (engine: Engine) => engine.broker },
    { provide: PresenceStore, inject: [Engine], useFactory: (engine: Engine) => engine.presence },
    { provide: InboxStore, inject: [Engine], useFactory: (engine: Engine) => engine.inbox },
    { provide: APP_FILTER, useClass: BrokerUnavailableFilter },
  ],
  exports: [Engine, Broker, PresenceStore, InboxStore],
})
export class BrokerModule implements BeforeApplicationShutdown, OnApplicationShutdown {
  /**
   * The engine's close (its last calls: unsubscribes, presence removes) begins in the first
   * phase, after every other module's (this global module comes last), beside the webhooks' last
   * calls: one after the other, a silent Redis's timeouts added up past the grace period.
   */
  private readonly closing = new EarlyClose(() => this.engine.close());

  constructor(@Inject(Engine) private readonly engine: Engine) {}

  beforeApplicationShutdown(): void {
    this.closing.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.closing.finished();
  }
}
