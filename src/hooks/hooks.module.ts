import { DynamicModule, Module } from '@nestjs/common';
import { HeraldConfig } from '../config/herald.config';
import { JoinProxyModule } from './join-proxy/join-proxy.module';
import { WebhooksModule } from './webhooks/webhooks.module';

/** The backend hooks of section 8: each exists only when its URL is configured. */
@Module({})
export class HooksModule {
  static register(config: Pick<HeraldConfig, 'webhooks' | 'joinProxy'>): DynamicModule {
    return {
      module: HooksModule,
      imports: [...(config.webhooks ? [WebhooksModule] : []), ...(config.joinProxy ? [JoinProxyModule] : [])],
    };
  }
}
