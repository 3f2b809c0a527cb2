import { isProductionProcess } from '../config/node-env';

/** The context of a failed start's line, as the app's own start-up lines have (startHerald's logger). */
const CONTEXT = 'Herald';

/**
 * The last line of a start that failed, for stderr, written without the app's logger: its own
 * configuration may be what is wrong, or it may not exist yet. In production it is one JSON
 * object shaped as Nest's ConsoleLogger with `json: true` writes a fatal line (also to stderr),
 * so a log agent parses it like every other line; elsewhere it is the plain text a person reads.
 * `stack`: an unexpected error's, which the plain text gives on the lines after the message.
 */
export function startFailureLine(message: string, options: { production: boolean; stack?: string }): string {
  if (!options.production) return options.stack === undefined ? `${message}\n` : `${message}\n${options.stack}\n`;
  const line = { level: 'fatal', pid: process.pid, timestamp: Date.now(), message, context: CONTEXT, ...(options.stack === undefined ? {} : { stack: options.stack }) };
  return `${JSON.stringify(line)}\n`;
}

/** Writes startFailureLine to stderr, as JSON when NODE_ENV says production. */
export function writeStartFailure(message: string, stack?: string): void {
  process.stderr.write(startFailureLine(message, { production: isProductionProcess(), stack }));
}
