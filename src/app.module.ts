import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { BrokerModule } from './broker/broker.module';
import { HeraldConfigModule, RawEnvironment } from './config/config.module';
import { parseEnvironment } from './config/environment';
import { ConnectionsModule } from './connections/connections.module';
import { DemoModule } from './demo/demo.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { InboxModule } from './inbox/inbox.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { MetricsModule } from './metrics/metrics.module';
import { NotificationsModule } from './notifications/notifications.module';
import { PresenceModule } from './presence/presence.module';
import { RoomsModule } from './rooms/rooms.module';

@Module({})
export class AppModule {
  /** `env` is the process environment in main.ts; tests pass their own per instance. */
  static forRoot(env: RawEnvironment): DynamicModule {
    // Which routes exist is decided while the module graph is built, before DI can help.
    const environment = parseEnvironment(env);
    const isProduction = environment.NODE_ENV === 'production';
    const demoEnabled = environment.DEMO_ENABLED ?? !isProduction;
    // Anyone may mint any token there, so it exists only outside production, and with a
    // configured secret only when DEMO_ENABLED=true says so: a forgotten NODE_ENV=production
    // must not hand out publish tokens signed with the real key.
    const ephemeralSecret = !environment.JWT_SECRET && !environment.JWT_PUBLIC_KEY;
    const tokenEndpoint = demoEnabled && !isProduction && (ephemeralSecret || environment.DEMO_ENABLED === true);
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
        InboxModule,
        HealthModule,
        DemoModule.register({ enabled: demoEnabled, tokenEndpoint }),
      ],
    };
  }
}
