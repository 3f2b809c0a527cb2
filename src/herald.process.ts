import { Logger } from '@nestjs/common';
import { loadHeraldConfig, processEnvironment } from './config/config.module';
import { HeraldConfig } from './config/herald.config';
import { ConfigurationError, settingNames } from './config/environment';
import { misspelledSettings } from './config/misspelled-settings';
import { DrainService } from './lifecycle/drain.service';
import { HeldSignals } from './lifecycle/held-signals';
import { writeStartFailure } from './lifecycle/start-failure';
import { capYoungGeneration } from './lifecycle/young-generation';
import { startHerald } from './herald.app';

/** Starts Herald in this process and stops it on the first signal: the drain, then exit 0. */
export async function runHeraldProcess(signals: HeldSignals): Promise<void> {
  const logger = new Logger('Shutdown');
  let signalled: NodeJS.Signals | undefined;
  let shutdown: ((signal: NodeJS.Signals) => void) | undefined;
  const starting = new AbortController();
  // A signal before Herald has connected to its broker ends the start (nothing is served yet,
  // and Redis may never answer); one after that is held until Herald has started (see the end),
  // then drains it. One while the modules load is held by main.ts until here (HeldSignals).
  signals.listen((signal, first) => {
    logger.log({ message: 'Signal received', signal });
    if (!first) return;
    signalled = signal;
    if (shutdown) shutdown(signal);
    else starting.abort();
  });
  let herald;
  let config: HeraldConfig | undefined;
  try {
    // Validated once, before the app starts: V8 keeps the young generation start-up grows, so a
    // cap set once Herald was up never took effect below 64 MB. A bad one stops here, reported below.
    const environment = processEnvironment();
    config = loadHeraldConfig(environment);
    capYoungGeneration(config.v8NewSpaceMaxMb);
    herald = await startHerald(config, starting.signal);
    // Once started, so the warning goes out in the format the logger was configured with.
    for (const { name, meant } of misspelledSettings(environment, settingNames())) {
      new Logger('Herald').warn(`${name} is not a Herald setting and is ignored: did you mean ${meant}?`);
    }
  } catch (error) {
    if (signalled) {
      // The stop asked for, not a failure: whatever the start met, the orchestrator starts a pod again.
      logger.log({ message: 'Stopped while starting', signal: signalled, ...(error instanceof ConfigurationError ? { error: error.message } : {}) });
      process.exit(0);
    }
    if (error instanceof ConfigurationError) {
      // Not through the logger: its own configuration may be what is wrong.
      writeStartFailure(`Herald cannot start. ${error.message}`);
      process.exit(1);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRNOTAVAIL') {
      // As for a busy port (Nest logged "successfully started" first): name the setting to change.
      const address = (error as { address?: string }).address;
      writeStartFailure(`Herald cannot start. HOST ${address} is not an address of this machine: set HOST to one of its addresses, or 0.0.0.0 for all of them`);
      process.exit(1);
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      // listen() looked HOST up and found nothing: a typo, or a name this machine cannot resolve.
      const host = (error as { hostname?: string }).hostname;
      writeStartFailure(`Herald cannot start. HOST ${host} does not resolve to an address: set HOST to an address of this machine, or 0.0.0.0 for all of them`);
      process.exit(1);
    }
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      // Nest has already logged "successfully started" (it does once the modules are up, before
      // binding): the last line must say plainly that Herald did not start, and what to change.
      const port = (error as { port?: number }).port;
      writeStartFailure(`Herald cannot start. ${portProblem(code, port, config)}`);
      process.exit(1);
    }
    throw error;
  }
  const { app } = herald;
  // Not Nest's enableShutdownHooks: it re-raises the signal after closing, so the process
  // would exit 143; the contract wants readyz 503 at once, a spread 1012 drain, then exit 0.
  shutdown = (signal: NodeJS.Signals) => {
    void app
      .get(DrainService)
      .drain({ skipDelayWhenIdle: signal === 'SIGINT' })
      .then((cutAtMs) => herald.close(cutAtMs))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ message: 'Shutdown failed', error: String(error) });
          process.exit(1);
        },
      );
  };
  if (signalled) shutdown(signalled);
}

/**
 * What to say when `port` could not be bound (EADDRINUSE, or EACCES for a privileged one): the
 * setting that chose it (PORT or INTERNAL_PORT) and another port to try, neither the one refused
 * nor the other setting's. No command: Herald runs from npm start, start:prod, systemd or an image.
 */
export function portProblem(code: 'EADDRINUSE' | 'EACCES', port: number | undefined, config: Pick<HeraldConfig, 'port' | 'internalPort'> | undefined): string {
  const internal = port !== undefined && port === config?.internalPort;
  const setting = internal ? 'INTERNAL_PORT' : 'PORT';
  const other = internal ? config?.port : config?.internalPort;
  // Privileged ports (below 1024) all need the same privilege: suggest an unprivileged one.
  const candidates = port === undefined || (code === 'EACCES' && port < 1024) ? [3000, 3001] : [port + 1, port + 2, port - 1, port - 2];
  const example = candidates.find((candidate) => candidate <= 65535 && candidate !== port && candidate !== other);
  return code === 'EADDRINUSE'
    ? `Port ${port} is already in use: set ${setting} to a free port, e.g. ${setting}=${example}`
    : `Port ${port} needs privileges: set ${setting} to a port ${port !== undefined && port < 1024 ? 'from 1024 up' : 'this user may bind'}, e.g. ${setting}=${example}`;
}
