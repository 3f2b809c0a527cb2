import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { BrokerModule } from './broker/broker.module';
import { HeraldConfigModule } from './config/config.module';
import { HeraldConfig } from './config/herald.config';
import { ConnectionsModule } from './connections/connections.module';
import { DemoModule } from './demo/demo.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { HooksModule } from './hooks/hooks.module';
import { ServiceApiModule } from './http/service-api.module';
import { InboxModule } from './inbox/inbox.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { MetricsModule } from './metrics/metrics.module';
import { NotificationsModule } from './notifications/notifications.module';
import { RoomsModule } from './rooms/rooms.module';
import { SdkModule } from './sdk/sdk.module';

@Module({})
export class AppModule {
  /** The instance's configuration, validated once from the environment before startHerald (loadHeraldConfig). */
  static forRoot(config: HeraldConfig): DynamicModule {
    // Which routes exist is decided while the module graph is built, before DI can help.
    return {
      module: AppModule,
      imports: [
        HeraldConfigModule.forRoot(config),
        MetricsModule,
        AuthModule,
        BrokerModule,
        ConnectionsModule,
        LifecycleModule,
        RoomsModule,
        GatewayModule,
        NotificationsModule,
        // With INTERNAL_PORT the service API is an application of its own (startHerald).
        ...(config.internalPort === undefined ? [ServiceApiModule.withinApp()] : []),
        InboxModule,
        HealthModule,
        SdkModule,
        HooksModule.register(config),
        DemoModule.register({ enabled: config.demoEnabled, tokenEndpoint: config.demoTokenEndpoint }),
      ],
    };
  }
}
