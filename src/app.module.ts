import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { BrokerModule } from './broker/broker.module';
import { HeraldConfigModule, RawEnvironment } from './config/config.module';
import { ConnectionsModule } from './connections/connections.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { MetricsModule } from './metrics/metrics.module';
import { NotificationsModule } from './notifications/notifications.module';
import { PresenceModule } from './presence/presence.module';
import { RoomsModule } from './rooms/rooms.module';

@Module({})
export class AppModule {
  /** `env` defaults to the process environment; tests pass their own per instance. */
  static forRoot(env?: RawEnvironment): DynamicModule {
    return {
      module: AppModule,
      imports: [
        HeraldConfigModule.forRoot(env),
        MetricsModule,
        AuthModule,
        BrokerModule,
        ConnectionsModule,
        LifecycleModule,
        RoomsModule,
        GatewayModule,
        NotificationsModule,
        PresenceModule,
        HealthModule,
      ],
    };
  }
}
