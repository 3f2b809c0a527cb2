import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The app's configuration contract at the time the deployment kit was written. Used only while
 * src/config/environment.ts does not exist yet; after that, the class is the source of truth.
 */
const DOCUMENTED_VARIABLES = [
  'NODE_ENV', 'PORT', 'HOST', 'INTERNAL_PORT', 'WS_PATH', 'LOG_LEVEL',
  'JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_ISSUER', 'JWT_AUDIENCE', 'ALLOWED_ORIGINS',
  'HEARTBEAT_MS', 'MAX_MESSAGE_BYTES', 'MAX_PUBLISH_BYTES', 'RATE_LIMIT_PER_S',
  'SEND_BUFFER_LIMIT_BYTES', 'MAX_CONNECTIONS', 'MAX_ROOMS_PER_CONNECTION',
  'PRESENCE_EVENTS_MAX_USERS', 'HISTORY_SIZE', 'HISTORY_TTL_S', 'DRAIN_DELAY_MS',
  'DRAIN_SPREAD_MS', 'REDIS_URL', 'REDIS_PREFIX', 'INBOX_SIZE', 'INBOX_TTL_DAYS', 'DEMO_ENABLED', 'WS_COMPRESSION', 'WS_COMPRESSION_MIN_BYTES', 'CLOSE_TIMEOUT_MS',
];

export interface AppEnvironment {
  variables: Set<string>;
  /** Where the names came from, for assertion messages. */
  source: string;
}

/**
 * The environment variables the app reads: the property names of the class-validator class in
 * src/config/environment.ts (its property names are the variable names).
 */
export function appEnvironment(repositoryRoot: string): AppEnvironment {
  const path = join(repositoryRoot, 'src', 'config', 'environment.ts');
  if (!existsSync(path)) {
    console.warn('src/config/environment.ts does not exist yet: checking against the documented variable list');
    return { variables: new Set(DOCUMENTED_VARIABLES), source: 'the documented list (src/config/environment.ts missing)' };
  }
  const variables = new Set(classBodies(readFileSync(path, 'utf8')).flatMap(propertyNames));
  if (variables.size === 0) throw new Error(`${path}: found no UPPER_CASE properties in any class`);
  return { variables, source: 'src/config/environment.ts' };
}

function classBodies(source: string): string[] {
  const bodies: string[] = [];
  const classHeader = /\bclass\s+\w+[^{]*\{/g;
  for (let match = classHeader.exec(source); match; match = classHeader.exec(source)) {
    let depth = 1;
    let index = match.index + match[0].length;
    const start = index;
    for (; index < source.length && depth > 0; index++) {
      if (source[index] === '{') depth++;
      else if (source[index] === '}') depth--;
    }
    bodies.push(topLevelOnly(source.slice(start, index - 1)));
  }
  return bodies;
}

/** Drops nested blocks (method bodies, object literals) so only member declarations remain. */
function topLevelOnly(body: string): string {
  let depth = 0;
  let result = '';
  for (const character of body) {
    if (character === '{') depth++;
    if (depth === 0) result += character;
    if (character === '}') depth--;
  }
  return result;
}

function propertyNames(body: string): string[] {
  const declaration = /^\s*(?:@\w+(?:\([^)]*\))?\s*)*(?:(?:public|readonly|declare)\s+)*([A-Z][A-Z0-9_]*)\s*[!?]?\s*[:=]/gm;
  return [...body.matchAll(declaration)].map((match) => match[1]);
}
