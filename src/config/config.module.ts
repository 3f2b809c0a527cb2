import { randomBytes } from 'node:crypto';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService, registerAs } from '@nestjs/config';
import { HeraldConfig } from './herald.config';
import { parseEnvironment } from './environment';

export type RawEnvironment = Record<string, string | undefined>;

const heraldNamespace = (raw: RawEnvironment) =>
  registerAs('herald', () => new HeraldConfig(parseEnvironment(raw), () => randomBytes(32).toString('base64url')));

/**
 * Validates the environment once, at start-up, into HeraldConfig. Tests pass their own
 * variables so several instances ("pods") can run in one process.
 */
@Global()
@Module({})
export class HeraldConfigModule {
  static forRoot(raw?: RawEnvironment): DynamicModule {
    const source = raw ?? process.env;
    return {
      module: HeraldConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          skipProcessEnv: true,
          cache: true,
          load: [heraldNamespace(source)],
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

/** The process environment, with a `.env` file (if any) underneath it, as main.ts reads it. */
export function processEnvironment(): RawEnvironment {
  // dotenv never overrides variables already set, so the real environment wins.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('dotenv').config({ quiet: true });
  return process.env;
}
