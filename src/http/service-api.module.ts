import { DynamicModule, INestApplication, InjectionToken, Module, Type } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { HttpTokenGuard } from '../auth/scopes.guard';
import { TokenVerifier } from '../auth/token.verifier';
import { Broker } from '../broker/broker';
import { PresenceStore } from '../broker/presence.store';
import { BrokerUnavailableFilter } from '../broker/broker-unavailable.filter';
import { HeraldConfig } from '../config/herald.config';
import { HealthController } from '../health/health.controller';
import { DrainService } from '../lifecycle/drain.service';
import { MetricsController } from '../metrics/metrics.controller';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsBatchController } from '../notifications/notifications-batch.controller';
import { NotificationsBatchService } from '../notifications/notifications-batch.service';
import { NotificationsController } from '../notifications/notifications.controller';
import { NotificationsModule } from '../notifications/notifications.module';
import { NotificationsService } from '../notifications/notifications.service';
import { PresenceController } from '../presence/presence.controller';

/** The service-facing endpoints of section 7: publish, presence and /metrics. */
const SERVICE_CONTROLLERS: Type[] = [NotificationsController, NotificationsBatchController, PresenceController, MetricsController];

/** What those controllers, their guard and their error filter are built from. */
const SHARED_PROVIDERS: InjectionToken[] = [NotificationsService, NotificationsBatchService, Broker, PresenceStore, MetricsService, TokenVerifier, HeraldConfig, DrainService];

/**
 * The service-facing HTTP API. Without INTERNAL_PORT it is part of the one application; with it,
 * it is an application of its own bound only to the internal listener, so its routes do not exist
 * on the public port at all: no list of path patterns to keep in step with the router's
 * case-insensitive routing (`/V1/NOTIFICATIONS` once published through the public port).
 */
@Module({})
export class ServiceApiModule {
  /** Part of the main application, on its own modules' providers. */
  static withinApp(): DynamicModule {
    return { module: ServiceApiModule, imports: [NotificationsModule], controllers: SERVICE_CONTROLLERS };
  }

  /**
   * The internal port's own application. It holds no state: every provider is the main
   * application's instance (one broker, one registry of metrics), and health answers here too
   * so probes may use either port.
   */
  static standalone(main: INestApplication): DynamicModule {
    return {
      module: ServiceApiModule,
      controllers: [...SERVICE_CONTROLLERS, HealthController],
      providers: [
        ...SHARED_PROVIDERS.map((token) => ({ provide: token, useValue: main.get(token, { strict: false }) })),
        { provide: APP_GUARD, useClass: HttpTokenGuard },
        { provide: APP_FILTER, useClass: BrokerUnavailableFilter },
      ],
    };
  }
}
