import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsoleLogger, INestApplication, Logger, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { Engine, EngineConnectError } from './broker/engine';
import { ConfigurationError } from './config/environment';
import { HeraldConfig } from './config/herald.config';
import { HeraldWsAdapter } from './gateway/herald-ws.adapter';
import { DrainService } from './lifecycle/drain.service';
import { HeraldFastifyAdapter } from './http/herald-fastify.adapter';
import { corsPolicy } from './http/cors.policy';
import { configureHttpPipeline } from './http/http-pipeline';
import { ServiceApiModule } from './http/service-api.module';
import { serveOpenApi } from './openapi/openapi.document';

export interface RunningHerald {
  app: INestApplication;
  config: HeraldConfig;
  port: number;
  /** The bound internal port, when INTERNAL_PORT is set. */
  internalPort: number | undefined;
  /**
   * Closes both listeners and every module. HTTP connections still open at `cutAtMs` (default:
   * CLOSE_TIMEOUT_MS from now) are cut: the drain passes the end of its own wait for departures.
   */
  close(cutAtMs?: number): Promise<void>;
}

/**
 * Builds and starts one Herald instance from a configuration its caller validated, once, from an
 * environment (loadHeraldConfig: herald.process.ts, and createTestApp for tests). `stop`
 * aborted before its broker is connected (a SIGTERM then) gives up the connection under way, and
 * the start fails: a pod that cannot reach Redis would otherwise hold its orchestrator's stop for
 * the whole start-up budget. Aborted later, it changes nothing: the caller drains the started app.
 */
export async function startHerald(config: HeraldConfig, stop?: AbortSignal): Promise<RunningHerald> {
  const logger = new ConsoleLogger('Herald', { json: config.isProduction, logLevels: levelsFrom(config.logLevel) });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), new HeraldFastifyAdapter(config.httpTimeouts, config.allowedOrigins), { logger, bodyParser: false });
  let internalApp: NestFastifyApplication | undefined;
  const close = async (cutAtMs = Date.now() + config.closeTimeoutMs) => {
    // One bound for both listeners, and the drain's: each with its own, a half-sent request on
    // each listener and a client that never answered its 1012 held the exit three times
    // CLOSE_TIMEOUT_MS, past the orchestrator's grace period. The internal application holds
    // nothing of its own (ServiceApiModule.standalone): it closes first, then the main one.
    if (internalApp) await closeWithin(internalApp, cutAtMs);
    await closeWithin(app, cutAtMs);
  };
  try {
    configureHttpPipeline(app, config);
    closeKeepAliveWhileDraining(app);
    const engine = app.get(Engine);
    await connectEngine(engine, stop);
    app.useWebSocketAdapter(new HeraldWsAdapter(app));
    if (config.allowedOrigins) {
      // Section 6: listed origins get their own origin back; unlisted ones are granted nothing.
      app.enableCors(corsPolicy(config.allowedOrigins) as unknown as Parameters<typeof app.enableCors>[0]);
    }
    // Each application describes the routes it has: with INTERNAL_PORT, each port its own.
    serveOpenApi(app);
    await app.listen({ port: config.port, host: config.host, backlog: config.listenBacklog });
    let internalPort: number | undefined;
    if (config.internalPort !== undefined) {
      internalApp = await startServiceApi(app, config, logger);
      internalPort = (internalApp.getHttpServer().address() as AddressInfo).port;
    }
    const port = (app.getHttpServer().address() as AddressInfo).port;
    announce(config, engine, port, internalPort);
    return { app, config, port, internalPort, close };
  } catch (error) {
    // A failed start (Redis unreachable, a port in use) must not leave the app half open.
    await close().catch(() => undefined);
    throw error;
  }
}

/**
 * Closes `app`, cutting whatever HTTP connection is still open at `cutAtMs`. Fastify closes
 * the idle ones and waits for the rest, and Node stops timing out requests once its server
 * closes: one client that had sent half a request, or nothing, kept a drained pod from ever
 * exiting, deaf to further signals, until the orchestrator killed it.
 */
async function closeWithin(app: INestApplication, cutAtMs: number): Promise<void> {
  const server = app.getHttpServer() as Server;
  const timer = setTimeout(() => server.closeAllConnections(), Math.max(0, cutAtMs - Date.now()));
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * While the pod drains, every response asks its client to close the connection: a publisher
 * on keep-alive then opens its next one through the Service, to a pod that stays, instead of
 * sending into the socket this pod closes when it exits (a reset, answered by no one).
 */
function closeKeepAliveWhileDraining(app: NestFastifyApplication): void {
  const drain = app.get(DrainService, { strict: false });
  // As each answer leaves, not as its request arrives: a request under way when the drain began
  // (a slow body) is answered while draining too, and so are the answers given before any route
  // runs (a CORS preflight, a malformed URL).
  app.getHttpAdapter().getInstance().addHook('onSend', (_request, reply, payload, done) => {
    if (drain.draining) reply.header('connection', 'close');
    done(null, payload);
  });
}

/**
 * Connects the engine (broker, presence, inbox) before the first socket or request is
 * accepted, outside Nest's module initialisation, so a bad REDIS_URL is a start-up error
 * naming it rather than a process exit inside Nest. The memory engine resolves at once.
 */
async function connectEngine(engine: Engine, stop: AbortSignal | undefined): Promise<void> {
  stop?.throwIfAborted();
  // Closing the engine ends its start at once (ClosedWhileStartingError), whatever try it is in.
  const giveUp = () => void engine.close().catch(() => undefined);
  stop?.addEventListener('abort', giveUp, { once: true });
  try {
    await engine.connect();
  } catch (error) {
    // Either the setting is wrong (a database Redis refuses, a Cluster node given as one server)
    // or it may well be right and Redis down (a rollout during an outage): the line says which.
    if (error instanceof EngineConnectError && !stop?.aborted) {
      throw new ConfigurationError(
        [`${error.setting}: ${error.message}`],
        'Redis cannot be used with the setting below: if Redis refused it, change the setting; if Redis could not be reached, check that it is up (Herald exits, and its orchestrator starts it again):',
      );
    }
    throw error;
  } finally {
    stop?.removeEventListener('abort', giveUp);
  }
  // Stopped as the connection completed: nothing was served yet.
  stop?.throwIfAborted();
}

/** The service API on INTERNAL_PORT: its own application, so its routes never exist on PORT. */
async function startServiceApi(main: INestApplication, config: HeraldConfig, logger: LoggerService): Promise<NestFastifyApplication> {
  const internalApp = await NestFactory.create<NestFastifyApplication>(ServiceApiModule.standalone(main), new HeraldFastifyAdapter(config.httpTimeouts), { logger, bodyParser: false });
  try {
    configureHttpPipeline(internalApp, config);
    closeKeepAliveWhileDraining(internalApp);
    serveOpenApi(internalApp);
    await internalApp.listen({ port: config.internalPort!, host: config.host, backlog: config.listenBacklog });
    return internalApp;
  } catch (error) {
    await internalApp.close().catch(() => undefined);
    throw error;
  }
}

/** The fewest frames a heartbeat the rate limit should leave a client (docs/operations.md, RATE_LIMIT_PER_S). */
const MIN_FRAMES_PER_HEARTBEAT = 4;

function announce(config: HeraldConfig, engine: Engine, port: number, internalPort: number | undefined): void {
  const logger = new Logger('Herald');
  const broker = engine.description.engine;
  if (config.isProduction) {
    logger.log({ message: 'Listening', port, internalPort, wsPath: config.wsPath, broker });
  } else {
    // One line a person (and the README's tour) can wait for.
    logger.log(
      `Listening on http://localhost:${port} (WebSocket ws://localhost:${port}${config.wsPath}` +
        `${internalPort === undefined ? '' : `, internal port ${internalPort}`}, ${broker === 'redis' ? 'Redis' : 'embedded'} broker)`,
    );
  }
  if (config.isProduction && broker !== 'redis') {
    // One pod alone is a valid deployment; several would each keep their own rooms, all ready.
    logger.warn(
      'No Redis configured (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): this pod runs on the embedded broker and shares no rooms, history or presence with other pods. Right for a single pod only.',
    );
  }
  // Each heartbeat costs every client two frames (its pongs), counted by the rate limit: a limit
  // that leaves little beside them is one clients cannot learn without being closed 4029.
  const framesPerHeartbeat = (config.rateLimitPerS * config.heartbeatMs) / 1000;
  if (framesPerHeartbeat < MIN_FRAMES_PER_HEARTBEAT) {
    logger.warn(
      `RATE_LIMIT_PER_S (${config.rateLimitPerS}) and HEARTBEAT_MS (${config.heartbeatMs}) leave a client ${framesPerHeartbeat} frames a heartbeat, ` +
        `of which its two pongs take two: clients may be closed with 4029 (rate_limited). Leave at least ${MIN_FRAMES_PER_HEARTBEAT}.`,
    );
  }
  if (config.jwt.ephemeral) {
    logger.warn(
      `JWT_SECRET is not set: using a random development secret that lasts until restart. ` +
        (config.demoEnabled
          ? `Mint a token with: curl -s -X POST http://localhost:${port}/demo/token -H 'content-type: application/json' -d '{"sub":"alice","scope":"notifications:publish"}', `
          : '') +
        `${config.demoEnabled ? 'or s' : 'S'}et JWT_SECRET in .env and run: npm run token -- --sub alice` +
        // Pods sharing Redis share rooms, but not this secret: a token one minted, the others refuse.
        (broker === 'redis' ? '. Every pod makes its own such secret: a token from one pod is refused by the others, so give every pod the same JWT_SECRET' : ''),
    );
  }
}

function levelsFrom(level: string): ('fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose')[] {
  const ordered = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
  return ordered.slice(0, ordered.indexOf(level as (typeof ordered)[number]) + 1);
}
