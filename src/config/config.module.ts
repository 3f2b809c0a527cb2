import { randomBytes } from 'node:crypto';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService, registerAs } from '@nestjs/config';
import { HeraldConfig } from './herald.config';
import { parseEnvironment } from './environment';

export type RawEnvironment = Record<string, string | undefined>;

/**
 * Validates an environment into HeraldConfig, once per start (herald.process.ts loads it before
 * the app starts, for what must be set first, and hands it to startHerald). A configured
 * JWT_SECRET is used as is; without any key a random development secret is generated here.
 */
export function loadHeraldConfig(raw: RawEnvironment): HeraldConfig {
  return new HeraldConfig(parseEnvironment(raw), () => randomBytes(32).toString('base64url'));
}

/**
 * Provides the HeraldConfig an instance was started with, through @nestjs/config's namespace.
 * Tests build their own so several instances ("pods") can run in one process.
 */
@Global()
@Module({})
export class HeraldConfigModule {
  static forRoot(config: HeraldConfig): DynamicModule {
    return {
      module: HeraldConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          skipProcessEnv: true,
          cache: true,
          load: [registerAs('herald', () => config)],
        }),
      ],
      providers: [
        {
          provide: HeraldConfig,
          inject: [ConfigService],
          useFactory: (config: ConfigService) => config.getOrThrow<HeraldConfig>('herald'),
        },
      ],
      exports: [HeraldConfig],
    };
  }
}

/** The process environment, with a `.env` file (if any) underneath it, as the process reads it at start (herald.process.ts). */
export function processEnvironment(): RawEnvironment {
  // dotenv never overrides variables already set, so the real environment wins.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('dotenv').config({ quiet: true });
  return process.env;
}
