import { isIP } from 'node:net';
import { ValidateBy, ValidationOptions } from 'class-validator';
import { listEntries } from './environment.transforms';

/*
 * Rules for the variables that say where Herald listens or what it connects to: Redis (a URL, a
 * Cluster's seeds or the sentinels), the backends of section 8, the bind address and the browser
 * origins allowed in.
 */

/** A URL node-redis accepts: checked here so a typo stops start-up with a message, not a stack. */
export function IsRedisUrl(options: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isRedisUrl', validator: { validate: isRedisUrl } }, options);
}

/**
 * True for a URL node-redis accepts as one Redis node: redis:// or rediss://, a host, a port that
 * can be connected to if any (new URL() takes `:0`, which no connect reaches: caught here rather
 * than in the start's connect tries), a numeric database if any, and a user name and password whose
 * percent-escapes decode (new URL() keeps a stray `%` of a generated password, and node-redis's
 * decodeURIComponent then threw at start-up).
 */
function isRedisUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    const database = url.pathname.replace(/^\//, '');
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return ['redis:', 'rediss:'].includes(url.protocol) && url.hostname !== '' && url.port !== '0' && (database === '' || /^\d+$/.test(database));
  } catch {
    return false; // new URL() throws on anything unparsable, port included; decodeURIComponent on a bad escape
  }
}

/** What every Redis URL message adds: the rule a generated password most often breaks. */
export const PERCENT_ESCAPES = 'a % in the user name or password written as %25';

/**
 * Seed nodes of a Redis Cluster: redis:// or rediss:// URLs, all of one scheme (TLS to every
 * node or to none) and with no database (a Cluster has only database 0).
 */
export function IsRedisSeedList(options: ValidationOptions): PropertyDecorator {
  return IsCommaList('isRedisSeedList', isRedisUrl, options, (seeds) => {
    const urls = seeds.map((seed) => new URL(seed));
    return urls.every((url) => url.protocol === urls[0].protocol && url.pathname.replace(/^\//, '') === '');
  });
}

/** Comma-separated host:port pairs (Sentinel addresses). */
export function IsHostPortList(options: ValidationOptions): PropertyDecorator {
  return IsCommaList('isHostPortList', isHostPort, options);
}

/**
 * `host:port`, the host an IPv4 address, an IPv6 one in brackets or a DNS name whose labels may
 * hold `_`: Docker Compose names its services' hosts after them (redis_sentinel), as REDIS_URL's
 * hosts may be. A name like `-s` or `a..b`, or brackets around no IPv6 address, resolves nowhere.
 */
function isHostPort(entry: string): boolean {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
  if (match === null) return false;
  const [, ipv6, host, port] = match;
  const reachable = ipv6 !== undefined ? isIP(ipv6) === 6 : isIP(host) === 4 || (SERVICE_HOST_NAME.test(host) && !DOTTED_NUMBERS.test(host));
  return reachable && Number(port) > 0 && Number(port) <= 65535;
}

/**
 * A DNS name whose labels (1-63 of `chars`, no `-` at either end) are joined by dots, with a
 * trailing dot (a fully qualified name) when `trailingDot`.
 */
function hostNamePattern(chars: string, trailingDot: boolean): RegExp {
  const label = `[${chars}](?:[${chars}-]{0,61}[${chars}])?`;
  return new RegExp(`^${label}(?:\\.${label})*${trailingDot ? '\\.?' : ''}$`);
}

/**
 * HOST_NAME with `_` allowed in a label, as container runtimes name hosts, and a trailing dot (a
 * fully qualified name, as Kubernetes users write to skip the search domains).
 */
const SERVICE_HOST_NAME = hostNamePattern('A-Za-z0-9_', true);
/** Digits and dots only: meant as an IPv4 address, and not one (300.1.1.1, 1.2.3) if isIP refused it. */
const DOTTED_NUMBERS = /^[\d.]+$/;

/** An http:// or https:// URL with a host and a port other than 0 (no request reaches it): a backend Herald calls (section 8). */
export function IsHttpUrl(options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isHttpUrl',
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string') return false;
          try {
            const url = new URL(value);
            return ['http:', 'https:'].includes(url.protocol) && url.hostname !== '' && url.port !== '0';
          } catch {
            return false; // new URL() throws on anything unparsable
          }
        },
      },
    },
    options,
  );
}

/**
 * A URL without `user:password@`: fetch refuses to send a request to one (every call would
 * fail), and the failure quoted the whole URL, password included, in the logs.
 */
export function HasNoUrlCredentials(options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'hasNoUrlCredentials',
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string') return true;
          try {
            const url = new URL(value);
            return url.username === '' && url.password === '';
          } catch {
            return true; // unparsable: IsHttpUrl says so
          }
        },
      },
    },
    options,
  );
}

/** What a hook URL's credentials error suggests instead (docs/hooks.md, "Verifying a request"). */
export const URL_CREDENTIALS_INSTEAD = 'check the X-Herald-Signature (HOOKS_SECRET) in the backend, or put a token in the query (?key=...), which Herald never logs';

const HOST_NAME = hostNamePattern('A-Za-z0-9', false);

/** An IP address or a DNS host name, as listen() takes them. */
export function IsBindAddress(options: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isBindAddress', validator: { validate: (value: unknown) => typeof value === 'string' && (isIP(value) !== 0 || HOST_NAME.test(value)) } }, options);
}

/**
 * A comma-separated list of browser origins, each exactly `scheme://host[:port]` as browsers send
 * it in `Origin`: an entry such as `app.example.com` (no scheme) or with a path or trailing slash
 * could never match, and would silently refuse every browser.
 */
export function IsOriginList(options: ValidationOptions): PropertyDecorator {
  return IsCommaList('isOriginList', isExactOrigin, options);
}

/** `*` is no wildcard here, only a character no Origin header holds (origins are matched exactly). */
function isExactOrigin(entry: string): boolean {
  return !entry.includes('*') && URL.canParse(entry) && ['http:', 'https:'].includes(new URL(entry).protocol) && new URL(entry).origin === entry;
}

/**
 * A comma-separated list of at least one entry, each `isEntry`, and all of them `together` when
 * given: a list of blanks (` `, `,`) names nothing, which would silently turn the feature off.
 */
function IsCommaList(name: string, isEntry: (entry: string) => boolean, options: ValidationOptions, together: (entries: string[]) => boolean = () => true): PropertyDecorator {
  return ValidateBy(
    {
      name,
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string') return false;
          const entries = listEntries(value);
          return entries.length > 0 && entries.every(isEntry) && together(entries);
        },
      },
    },
    options,
  );
}
