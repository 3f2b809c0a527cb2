import { loadHeraldConfig } from '../../src/config/config.module';
import { startHerald, RunningHerald } from '../../src/herald.app';
import { TEST_JWT_SECRET } from './tokens';

export interface TestApp {
  herald: RunningHerald;
  app: RunningHerald['app'];
  port: number;
  url: string;
  wsUrl: string;
  /** Set when INTERNAL_PORT was given. */
  internalUrl: string | undefined;
  close(): Promise<void>;
}

export const TEST_DEFAULTS: Record<string, string> = {
  NODE_ENV: 'test',
  PORT: '0',
  HOST: '127.0.0.1',
  JWT_SECRET: TEST_JWT_SECRET,
  HEARTBEAT_MS: '2000',
  LOG_LEVEL: 'error',
  DRAIN_DELAY_MS: '0',
  DRAIN_SPREAD_MS: '0',
};

/** Apps not closed yet, so a fixture can close them before stopping what they depend on. */
const openApps = new Set<TestApp>();

/** Closes every test app still open (closing twice is harmless). */
export async function closeOpenApps(): Promise<void> {
  await Promise.all([...openApps].map((app) => app.close()));
}

/**
 * A real Herald on a free port, in this process. Several can run side by side ("pods"). `env` is
 * validated as the process's own environment is (a bad one rejects with ConfigurationError).
 */
export async function createTestApp(env: Record<string, string | undefined> = {}): Promise<TestApp> {
  const herald = await startHerald(loadHeraldConfig({ ...TEST_DEFAULTS, ...env }));
  const url = `http://127.0.0.1:${herald.port}`;
  let closing: Promise<void> | undefined;
  const app: TestApp = {
    herald,
    app: herald.app,
    port: herald.port,
    url,
    wsUrl: `ws://127.0.0.1:${herald.port}${herald.config.wsPath}`,
    internalUrl: herald.internalPort === undefined ? undefined : `http://127.0.0.1:${herald.internalPort}`,
    close() {
      openApps.delete(app);
      closing ??= herald.close();
      return closing;
    },
  };
  openApps.add(app);
  return app;
}
