import { DynamicModule, Module } from '@nestjs/common';
import { DemoAssets } from './demo.assets';
import { DemoController } from './demo.controller';
import { DemoTokenController } from './demo-token.controller';
import { DEMO_OPTIONS, DemoOptions } from './demo.options';

/**
 * The demo page (`/demo#token=<JWT>&rooms=public:news,chat:1`), the SDK and widget as
 * browser modules, and in development a token endpoint. When disabled, none of its routes
 * exist. Needs HeraldConfig and, for the token endpoint, TokenSigner (both global).
 */
@Module({})
export class DemoModule {
  static register(options: DemoOptions): DynamicModule {
    if (!options.enabled) return { module: DemoModule };
    return {
      module: DemoModule,
      controllers: [DemoController, ...(options.tokenEndpoint ? [DemoTokenController] : [])],
      providers: [DemoAssets, { provide: DEMO_OPTIONS, useValue: options }],
    };
  }
}
