import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsoleLogger, INestApplication, Logger, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Express, NextFunction, Request, Response } from 'express';
import { AppModule } from './app.module';
import { loadHeraldConfig, RawEnvironment } from './config/config.module';
import { HeraldConfig } from './config/herald.config';
import { HeraldWsAdapter } from './gateway/herald-ws.adapter';
import { RedisWsAdapter } from './gateway/redis-ws.adapter';
import { OPENAPI_PATH, openApiDocument, serveOpenApi } from './openapi/openapi.document';

/** Paths that move to INTERNAL_PORT when it is set (section 7). */
const INTERNAL_PATHS = [/^\/v1\/notifications\/?$/, /^\/v1\/rooms\/[^/]+\/presence\/?$/, /^\/metrics\/?$/];
const EVERYWHERE_PATHS = [/^\/healthz\/?$/, /^\/readyz\/?$/, /^\/openapi\.json$/];
const servedInternally = (path: string) => INTERNAL_PATHS.some((pattern) => pattern.test(path));

const { version } = JSON.parse(readFileSync(`${__dirname}/../package.json`, 'utf8')) as { version: string };

export interface RunningHerald {
  app: INestApplication;
  config: HeraldConfig;
  port: number;
  /** The bound internal port, when INTERNAL_PORT is set. */
  internalPort: number | undefined;
  close(): Promise<void>;
}

/** Builds and starts one Herald instance. Throws ConfigurationError for a bad environment. */
export async function startHerald(env: RawEnvironment): Promise<RunningHerald> {
  const config = loadHeraldConfig(env);
  const logger = new ConsoleLogger('Herald', { json: config.isProduction, logLevels: levelsFrom(config.logLevel) });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger, bodyParser: false });
  let internalServer: Server | undefined;
  const close = async () => {
    await new Promise<void>((resolve) => (internalServer?.listening ? internalServer.close(() => resolve()) : resolve()));
    await app.close();
  };
  try {
    app.useBodyParser('json', { limit: config.maxPublishBytes });
    app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true }));
    if (config.redisUrl) {
      const adapter = new RedisWsAdapter(app);
      await adapter.connectToRedis();
      app.useWebSocketAdapter(adapter);
    } else {
      app.useWebSocketAdapter(new HeraldWsAdapter(app));
    }
    app.disable('x-powered-by');
    if (config.allowedOrigins) {
      // Section 6: listed origins get their own origin back; unlisted ones never get Access-Control-Allow-Origin.
      app.enableCors({ origin: config.allowedOrigins, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 });
    }

    let internalPort: number | undefined;
    // Each port describes the routes it answers.
    const onInternalPort = (request: Request) => config.internalPort !== undefined && request.socket.localPort === internalPort;
    const publicApi = serveOpenApi(openApiDocument(app, version, (path) => config.internalPort === undefined || !servedInternally(path)));
    const internalApi = config.internalPort === undefined ? undefined : serveOpenApi(openApiDocument(app, version, (path) => servedInternally(path) || EVERYWHERE_PATHS.some((pattern) => pattern.test(path))));
    (app.getHttpAdapter().getInstance() as Express).get(OPENAPI_PATH, (request: Request, response: Response) => (onInternalPort(request) ? internalApi! : publicApi)(request, response));
    if (config.internalPort !== undefined) {
      app.use((request: Request, response: Response, next: NextFunction) => {
        const path = request.path;
        if (EVERYWHERE_PATHS.some((pattern) => pattern.test(path))) return next();
        if (servedInternally(path) === onInternalPort(request)) return next();
        response.status(404).json({ statusCode: 404, message: `Cannot ${request.method} ${path}`, error: 'Not Found' });
      });
    }

    await app.listen(config.port, config.host);
    if (config.internalPort !== undefined) {
      internalServer = createServer(app.getHttpAdapter().getInstance());
      await new Promise<void>((resolve, reject) => {
        internalServer!.once('error', reject);
        internalServer!.listen(config.internalPort, config.host, resolve);
      });
      internalPort = (internalServer.address() as AddressInfo).port;
      internalServer.on('error', (error: Error) => new Logger('Herald').error({ message: 'Internal port server error', error: error.message }));
    }
    const port = (app.getHttpServer().address() as AddressInfo).port;
    announce(config, port, internalPort);
    return { app, config, port, internalPort, close };
  } catch (error) {
    // A failed start (Redis unreachable, a port in use) must not leave the app half open.
    await close().catch(() => undefined);
    throw error;
  }
}

function announce(config: HeraldConfig, port: number, internalPort: number | undefined): void {
  const logger = new Logger('Herald');
  const broker = config.redisUrl ? 'redis' : 'memory';
  if (config.isProduction) {
    logger.log({ message: 'Listening', port, internalPort, wsPath: config.wsPath, broker });
  } else {
    // One line a person (and the README's tour) can wait for.
    logger.log(
      `Listening on http://localhost:${port} (WebSocket ws://localhost:${port}${config.wsPath}` +
        `${internalPort === undefined ? '' : `, internal port ${internalPort}`}, ${broker === 'redis' ? 'Redis' : 'embedded'} broker)`,
    );
  }
  if (config.jwt.ephemeral) {
    logger.warn(
      `JWT_SECRET is not set: using a random development secret that lasts until restart. ` +
        (config.demoEnabled
          ? `Mint a token with: curl -s -X POST http://localhost:${port}/demo/token -H 'content-type: application/json' -d '{"sub":"alice","scope":"notifications:publish"}', `
          : '') +
        `or set JWT_SECRET in .env and run: npm run token -- --sub alice`,
    );
  }
}

function levelsFrom(level: string): ('fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose')[] {
  const ordered = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
  return ordered.slice(0, ordered.indexOf(level as (typeof ordered)[number]) + 1);
}
