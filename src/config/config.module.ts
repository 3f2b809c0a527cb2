import { randomBytes } from 'node:crypto';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService, registerAs } from '@nestjs/config';
import { HeraldConfig } from './herald.config';
import { parseEnvironment } from './environment';

export type RawEnvironment = Record<string, string | undefined>;

/**
 * Configurations preloadHeraldConfig loaded, by the environment object they came from, each
 * taken by the next start from that object. Keyed on the object itself, so apps built in one
 * process from different environments (as tests do) never receive each other's configuration,
 * and an entry lives no longer than its environment.
 */
const preloaded = new WeakMap<RawEnvironment, { variables: string; config: HeraldConfig }>();

/** The variables an environment holds now: a preloaded configuration is used only if none changed since. */
const variablesOf = (raw: RawEnvironment) => JSON.stringify(Object.entries(raw));

/**
 * Validates an environment into HeraldConfig: once per instance, at start-up. A configured
 * JWT_SECRET is used as is; without any key a random development secret is generated here.
 * A configuration preloaded from the same object, which still holds the same variables, is
 * taken instead of validating the environment again.
 */
export function loadHeraldConfig(raw: RawEnvironment): HeraldConfig {
  const ahead = preloaded.get(raw);
  preloaded.delete(raw);
  if (ahead?.variables === variablesOf(raw)) return ahead.config;
  return new HeraldConfig(parseEnvironment(raw), () => randomBytes(32).toString('base64url'));
}

/**
 * Loads the configuration of a start ahead of it, for what must be set before the app starts
 * (herald.process.ts: V8_NEW_SPACE_MAX_MB); the start's own loadHeraldConfig then takes it, so
 * the environment is validated once per start. Throws as loadHeraldConfig does.
 */
export function preloadHeraldConfig(raw: RawEnvironment): HeraldConfig {
  const config = loadHeraldConfig(raw);
  preloaded.set(raw, { variables: variablesOf(raw), config });
  return config;
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
