import { Transform, plainToInstance } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateIf, ValidateBy, validateSync } from 'class-validator';
import { typeFailureOnly } from '../parsing/type-failures';
import { HasNoUrlCredentials, IsBindAddress, IsHostPortList, IsHttpUrl, IsOriginList, IsRedisSeedList, IsRedisUrl, PERCENT_ESCAPES, URL_CREDENTIALS_INSTEAD } from './address.rules';
import { NOT_A_BOOLEAN, emptyToUndefined, toBool, toInt, toPem } from './environment.transforms';
import { ROOM_PATTERN_LIST, neverProxiedPatterns } from './room-pattern.rules';
import { IsOnePemBlock, IsOwnSecretInProduction, IsPublicKeyPem, IsTrimmed } from './secret.rules';

/** A whole request's deadline when HTTP_REQUEST_TIMEOUT_MS is unset (Node's own is five minutes). */
const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Every environment variable Herald reads, with its default. The property names are the
 * variable names; README.md and .env.example list the same set.
 */
export class Environment {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  /** An IP address or a host name to bind; anything else would only fail later, inside listen(). */
  @Transform(emptyToUndefined)
  @IsBindAddress({ message: 'HOST must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name to bind to' })
  HOST = '0.0.0.0';

  /**
   * When set, the service-facing endpoints (publish, presence, metrics) move to this port. Not
   * PORT itself: the second listen would fail with a bare "address in use" naming neither.
   */
  @Transform(toInt) @IsOptional() @IsInt() @Min(0) @Max(65535)
  @ValidateBy({ name: 'notPort', validator: { validate: (value: unknown, args) => value === 0 || value !== (args?.object as Environment).PORT } }, {
    message: 'INTERNAL_PORT must differ from PORT: it moves the service-facing endpoints to a port of their own (unset it to serve them on PORT)',
  })
  INTERNAL_PORT?: number;

  // Each segment a plain name: a trailing slash, `//` or a dot segment made a path no upgrade
  // is ever routed to (requests are matched on their exact path). Bounded: Node answers 431 to a
  // request whose line and headers pass 16 KB, so a path near that would have every handshake refused.
  @MaxLength(1024, { message: 'WS_PATH must be at most 1024 characters: every handshake carries it in its request line, and Node refuses (431) a request head over 16 KB' })
  @Matches(/^(?:\/|(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9_.-]+)+)$/, { message: 'WS_PATH must be a URL path such as /ws or /realtime/ws: starting with /, without a trailing slash, // or . and .. segments' })
  WS_PATH = '/ws';

  @IsIn(['fatal', 'error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  @Transform(emptyToUndefined) @IsOptional() @IsString() @MinLength(16, { message: 'JWT_SECRET must be at least 16 characters' })
  @IsTrimmed('JWT_SECRET')
  @IsOwnSecretInProduction()
  JWT_SECRET?: string;

  /** PEM public key (RS256 or ES256); its newlines may be written as \n (toPem). */
  @Transform(toPem) @IsOptional() @IsString() @IsPublicKeyPem({ message: 'JWT_PUBLIC_KEY must be a PEM public key: RSA of 2048 bits or more (RS256) or EC on P-256 (ES256), not a private key' })
  @IsOnePemBlock({ message: 'JWT_PUBLIC_KEY must hold exactly one PEM public key, one BEGIN/END block with nothing before or after it: Herald verifies with one key and would ignore the rest' })
  JWT_PUBLIC_KEY?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString() @IsTrimmed('JWT_ISSUER')
  JWT_ISSUER?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString() @IsTrimmed('JWT_AUDIENCE')
  JWT_AUDIENCE?: string;

  /** Comma-separated browser origins allowed to connect and to call the HTTP API. */
  @Transform(emptyToUndefined) @IsOptional()
  @IsOriginList({ message: 'ALLOWED_ORIGINS must be comma-separated origins written as browsers send them: scheme://host[:port], e.g. https://app.example.com (no path, no trailing slash, no wildcard: list each origin)' })
  ALLOWED_ORIGINS?: string;

  @Transform(toInt) @IsInt() @Min(100) @Max(3_600_000)
  HEARTBEAT_MS = 25_000;

  /**
   * Largest V8 young generation (new space), in MB; 0 leaves it to V8, which grows it to 64 MB
   * under load when the process has no memory limit to size itself from (capYoungGeneration).
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(1024)
  V8_NEW_SPACE_MAX_MB = 16;

  @Transform(toInt) @IsInt() @Min(256) @Max(16 * 1024 * 1024)
  MAX_MESSAGE_BYTES = 65_536;

  @Transform(toInt) @IsInt() @Min(256) @Max(16 * 1024 * 1024)
  MAX_PUBLISH_BYTES = 65_536;

  /** Largest body of POST /v1/notifications/batch; each notification in it still obeys MAX_PUBLISH_BYTES. */
  @Transform(toInt) @IsInt() @Min(256) @Max(64 * 1024 * 1024)
  MAX_BATCH_PUBLISH_BYTES = 1_048_576;
  /** Deepest nesting of objects/arrays accepted in a frame or an HTTP body (section 2 and 6). */
  @Transform(toInt) @IsInt() @Min(2) @Max(256)
  MAX_JSON_DEPTH = 32;

  @Transform(toInt) @IsInt() @Min(1) @Max(100_000)
  RATE_LIMIT_PER_S = 20;

  @Transform(toInt) @IsInt() @Min(1024) @Max(1024 * 1024 * 1024)
  SEND_BUFFER_LIMIT_BYTES = 1_048_576;

  /** How long a closed connection may take to answer the close frame before it is dropped (ws's own is 30 s). */
  @Transform(toInt) @IsInt() @Min(100) @Max(60_000)
  CLOSE_TIMEOUT_MS = 10_000;

  @Transform(toInt) @IsInt() @Min(1) @Max(10_000_000)
  MAX_CONNECTIONS = 50_000;

  /** Connections one user (`sub`) may hold on a pod; 0: no limit beyond MAX_CONNECTIONS. */
  @Transform(toInt) @IsInt() @Min(0) @Max(10_000_000)
  MAX_CONNECTIONS_PER_USER = 0;

  /**
   * TCP connections the kernel may hold for a port before the pod accepts them (listen's
   * backlog; Linux caps it at net.core.somaxconn). Node's own default, 511, overflowed when a
   * drained pod's clients all came back at once: the kernel dropped the connections beyond it,
   * and each of those clients waited a second for its SYN to be sent again.
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(65_535)
  LISTEN_BACKLOG = 4096;

  /**
   * How long a client may take to send a request's headers (a WebSocket handshake included)
   * before it is answered 408 and its TCP connection closed: a client that trickles its headers,
   * or opens connections and sends nothing, holds a file descriptor no longer than this.
   */
  @Transform(toInt) @IsInt() @Min(1_000) @Max(300_000)
  HTTP_HEADERS_TIMEOUT_MS = 10_000;

  /**
   * How long a client may take to send a whole HTTP request, body included, before it is answered
   * 408 and closed: a client that trickles a body a byte at a time holds a socket and a body
   * buffer no longer than this. Node's own limit is five minutes. Unset, it is 30 s, or
   * HTTP_HEADERS_TIMEOUT_MS if that is longer: raising the headers' timeout alone must not stop
   * start-up.
   */
  @Transform(toInt) @IsOptional() @IsInt() @Min(1_000) @Max(600_000)
  HTTP_REQUEST_TIMEOUT_MS?: number;

  /** HTTP_REQUEST_TIMEOUT_MS, or its default (30 s, at least the headers' timeout). */
  get httpRequestTimeoutMs(): number {
    return this.HTTP_REQUEST_TIMEOUT_MS ?? Math.max(DEFAULT_HTTP_REQUEST_TIMEOUT_MS, this.HTTP_HEADERS_TIMEOUT_MS);
  }

  /** Offers permessage-deflate to clients that ask for it; off by default (CPU and memory per socket). */
  @Transform(toBool) @IsBoolean({ message: NOT_A_BOOLEAN })
  WS_COMPRESSION = false;

  @Transform(toInt) @IsInt() @Min(0) @Max(16 * 1024 * 1024)
  WS_COMPRESSION_MIN_BYTES = 1024;

  /** Rooms a connection may be in, its personal room (joined for it at welcome) among them. */
  @Transform(toInt) @IsInt() @Max(10_000)
  @Min(2, { message: 'MAX_ROOMS_PER_CONNECTION must be at least 2: it counts the personal room every connection is in from the start, so with 1 no join could ever succeed' })
  MAX_ROOMS_PER_CONNECTION = 100;

  @Transform(toInt) @IsInt() @Min(0) @Max(100_000)
  PRESENCE_EVENTS_MAX_USERS = 100;

  @Transform(toInt) @IsInt() @Min(1) @Max(100_000)
  HISTORY_SIZE = 100;

  /** At most 30 days: Redis takes it as an EXPIRE, and a third of it in ms is a timer's period. */
  @Transform(toInt) @IsInt() @Min(1) @Max(30 * 86_400)
  HISTORY_TTL_S = 600;

  @Transform(toInt) @IsInt() @Min(0) @Max(600_000)
  DRAIN_DELAY_MS = 5_000;

  @Transform(toInt) @IsInt() @Min(0) @Max(600_000)
  DRAIN_SPREAD_MS = 5_000;

  @Transform(emptyToUndefined) @IsOptional()
  @IsRedisUrl({ message: `REDIS_URL must be a redis:// or rediss:// URL with a host and, if any, a port of 1 to 65535 and a numeric database (${PERCENT_ESCAPES})` })
  REDIS_URL?: string;

  /** Seed nodes of a Redis Cluster (7.0+); credentials and TLS come from the URLs. */
  @Transform(emptyToUndefined) @IsOptional()
  @IsRedisSeedList({ message: `REDIS_CLUSTER_NODES must be comma-separated redis:// or rediss:// URLs (all of one scheme, ports of 1 to 65535, no database, ${PERCENT_ESCAPES}), e.g. redis://10.0.0.1:6379,redis://10.0.0.2:6379` })
  REDIS_CLUSTER_NODES?: string;

  /** Sentinel addresses; the primary is asked of them by REDIS_SENTINEL_MASTER. */
  @Transform(emptyToUndefined) @IsOptional()
  @IsHostPortList({ message: 'REDIS_SENTINELS must be comma-separated host:port pairs, e.g. sentinel-0:26379,sentinel-1:26379' })
  REDIS_SENTINELS?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.REDIS_SENTINELS !== undefined || env.REDIS_SENTINEL_MASTER !== undefined)
  @ValidateBy({ name: 'withSentinels', validator: { validate: (_value: unknown, args) => (args?.object as Environment).REDIS_SENTINELS !== undefined } }, {
    message: 'REDIS_SENTINEL_MASTER must be set with REDIS_SENTINELS, and only with it',
  })
  @Matches(/^[A-Za-z0-9_.:-]{1,128}$/, {
    // Set, and only its characters wrong (a trailing space): "must be set" misled.
    message: ({ value }) =>
      value === undefined
        ? 'REDIS_SENTINEL_MASTER must be set with REDIS_SENTINELS, as the monitored primary\'s name (sentinel monitor <name> ...), e.g. mymaster'
        : 'REDIS_SENTINEL_MASTER must be the monitored primary\'s name as sentinel monitor gives it: 1 to 128 letters, digits, _ . : or -, no spaces (e.g. mymaster)',
  })
  REDIS_SENTINEL_MASTER?: string;

  /** Sentinel mode: the ACL user of the Redis servers (REDIS_URL and REDIS_CLUSTER_NODES carry it in their URLs). */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  REDIS_USERNAME?: string;

  /** Sentinel mode: the password of the Redis servers. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  REDIS_PASSWORD?: string;

  /** Sentinel mode: the sentinels' own ACL user, when they require one. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  REDIS_SENTINEL_USERNAME?: string;

  /** Sentinel mode: the sentinels' own password (sentinel requirepass), when they require one. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  REDIS_SENTINEL_PASSWORD?: string;

  /** Sentinel mode: TLS to the sentinels and to the Redis servers (rediss:// says so in the other modes). */
  @Transform(toBool) @IsBoolean({ message: NOT_A_BOOLEAN })
  REDIS_TLS = false;

  /**
   * Replicas that must acknowledge a publication (WAIT) before it is answered 202; default 1
   * with REDIS_CLUSTER_NODES or REDIS_SENTINELS, 0 with REDIS_URL.
   */
  @Transform(toInt) @IsOptional() @IsInt() @Min(0) @Max(16)
  REDIS_MIN_REPLICAS?: number;

  /** How long a publish waits for REDIS_MIN_REPLICAS acknowledgements before it is refused (503). */
  @Transform(toInt) @IsInt() @Min(10) @Max(60_000)
  REDIS_REPLICA_WAIT_MS = 1000;

  // No braces: a prefix with a hash tag would put every room's keys in one Cluster slot.
  @Matches(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'REDIS_PREFIX must be 1..64 characters of A-Za-z0-9_.:- (no braces: each room keeps its own Cluster hash tag)' })
  REDIS_PREFIX = 'herald:';

  /**
   * How many Pub/Sub channels the personal rooms share (0: one channel per user, as on a
   * Cluster). Default 16 with REDIS_URL or REDIS_SENTINELS, 0 with REDIS_CLUSTER_NODES. Every pod
   * must use the same value (see docs/operations.md).
   */
  @Transform(toInt) @IsOptional() @IsInt() @Min(0) @Max(1024)
  REDIS_PERSONAL_CHANNELS?: number;

  /**
   * How long a pod gathers the Redis calls nobody waits on (where newly followed rooms stand,
   * personal presence counts, presence removes, presence adds in crowded rooms) before sending
   * them in one write; 0: those of one event-loop turn. Delays `left` presence events by as much
   * (a join or delivery that needs where a room stands sends those reads at once). Each write
   * wakes Redis: in alternated runs a burst of connects cost a pod about 10% less CPU per connect
   * at 50 ms than at 5 ms (docs/benchmarks.md).
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(100)
  REDIS_BATCH_WINDOW_MS = 50;

  /**
   * How many of its newest publications each room a pod follows keeps in memory, so a rejoin with
   * `since` among them (a reconnect storm) is answered without Redis; 0 keeps none. Costs up to
   * this many messages per room with traffic on each pod (personal rooms keep none).
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(1000)
  REDIS_REPLAY_SIZE = 32;

  /**
   * How long a Redis connection may answer nothing while calls (or the health check's PING) wait
   * on it: then they fail as unavailable (503, `unavailable`, 1013) and readyz turns 503 until
   * Redis answers in time again (RedisDeadline: a long queue does not count while replies come).
   */
  @Transform(toInt) @IsInt() @Min(100) @Max(60_000)
  REDIS_COMMAND_TIMEOUT_MS = 2_000;

  @Transform(toInt) @IsInt() @Min(1) @Max(10_000)
  INBOX_SIZE = 200;

  @Transform(toInt) @IsInt() @Min(1) @Max(3650)
  INBOX_TTL_DAYS = 30;

  /**
   * The most bytes of items (as stored: each one's JSON) one inbox page carries, whatever its
   * `limit`: the page ends before the item that would pass it (never before its first), with
   * `next` set. A page is written in one go: 100 items of 64 KB were 6 MB, about 50 ms of the
   * pod's event loop per request, fetched by any signed-in user at will.
   */
  @Transform(toInt) @IsInt() @Min(1024) @Max(1_073_741_824)
  INBOX_PAGE_MAX_BYTES = 1_048_576;

  /**
   * Memory the embedded engine's inboxes may take (estimated from each item's JSON size); past
   * it the least recently written inboxes are dropped whole. Unused with Redis, whose TTLs and
   * maxmemory bound its own.
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(1024 * 1024)
  INBOX_MEMORY_MAX_MB = 128;

  /**
   * Memory the embedded engine's room histories may take together (estimated from each
   * message's JSON size); past it the histories of the rooms published to least recently are
   * emptied, and a rejoin that needed them answers `recovered: false`. Unused with Redis.
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(1024 * 1024)
  HISTORY_MEMORY_MAX_MB = 256;

  /** Serves /demo and its development token endpoint; defaults to on outside production. */
  @Transform(toBool) @IsOptional() @IsBoolean({ message: NOT_A_BOOLEAN })
  DEMO_ENABLED?: boolean;

  /** Backend webhooks (section 8): POSTed here, signed with HOOKS_SECRET; off when unset. */
  @Transform(emptyToUndefined) @IsOptional() @IsHttpUrl({ message: 'WEBHOOK_URL must be an http:// or https:// URL with a host and, if any, a port of 1 to 65535' })
  @HasNoUrlCredentials({ message: `WEBHOOK_URL must not contain credentials (user:password@), which requests cannot carry: ${URL_CREDENTIALS_INSTEAD}` })
  WEBHOOK_URL?: string;

  /** Signs webhook and join-proxy requests; required (16+ characters) when either URL is set. */
  @Transform(emptyToUndefined) @IsOptional() @IsString() @MinLength(16, { message: 'HOOKS_SECRET must be at least 16 characters' })
  @IsTrimmed('HOOKS_SECRET')
  @IsOwnSecretInProduction()
  HOOKS_SECRET?: string;

  @Transform(toInt) @IsInt() @Min(1) @Max(1000)
  WEBHOOK_BATCH_MAX = 100;

  @Transform(toInt) @IsInt() @Min(10) @Max(60_000)
  WEBHOOK_BATCH_MS = 500;

  /** notification.unread after this many seconds; 0 turns it off. Sent to WEBHOOK_URL, so only with it. */
  @Transform(toInt) @IsInt() @Min(0) @Max(30 * 86_400)
  @ValidateBy({ name: 'withWebhookUrl', validator: { validate: (value: unknown, args) => value === 0 || (args?.object as Environment).WEBHOOK_URL !== undefined } }, {
    message: 'WEBHOOK_UNREAD_AFTER_S needs WEBHOOK_URL: notification.unread is a webhook event (set WEBHOOK_URL, or WEBHOOK_UNREAD_AFTER_S=0)',
  })
  WEBHOOK_UNREAD_AFTER_S = 0;

  @Transform(toInt) @IsInt() @Min(1) @Max(7 * 86_400)
  WEBHOOK_RETRY_S = 3600;

  /** One webhook POST taking longer is a failed attempt. */
  @Transform(toInt) @IsInt() @Min(100) @Max(120_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  /** Events waiting to be sent, cluster-wide in Redis mode; more are dropped (and counted). */
  @Transform(toInt) @IsInt() @Min(1) @Max(10_000_000)
  WEBHOOK_QUEUE_MAX = 100_000;

  /** Asked about joins the token's `rooms` claim does not grant (section 8); off when unset. */
  @Transform(emptyToUndefined) @IsOptional() @IsHttpUrl({ message: 'JOIN_PROXY_URL must be an http:// or https:// URL with a host and, if any, a port of 1 to 65535' })
  @HasNoUrlCredentials({ message: `JOIN_PROXY_URL must not contain credentials (user:password@), which requests cannot carry: ${URL_CREDENTIALS_INSTEAD}` })
  JOIN_PROXY_URL?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.JOIN_PROXY_URL !== undefined || env.JOIN_PROXY_ROOMS !== undefined)
  @Matches(ROOM_PATTERN_LIST, { message: 'JOIN_PROXY_ROOMS must be comma-separated room names or prefixes ending in * (doc:*,team:*), set with JOIN_PROXY_URL' })
  JOIN_PROXY_ROOMS?: string;

  @Transform(toInt) @IsInt() @Min(50) @Max(60_000)
  JOIN_PROXY_TIMEOUT_MS = 2000;

  /** Join proxy requests one pod has open at a time; more joins wait their turn within JOIN_PROXY_TIMEOUT_MS. */
  @Transform(toInt) @IsInt() @Min(1) @Max(10_000)
  JOIN_PROXY_CONCURRENCY = 64;

  /** Allow decisions (with a ttl) remembered per pod; the oldest go first. */
  @Transform(toInt) @IsInt() @Min(0) @Max(1_000_000)
  JOIN_PROXY_CACHE_SIZE = 10_000;

  @ValidateIf((env: Environment) => env.WEBHOOK_URL !== undefined || env.JOIN_PROXY_URL !== undefined)
  @IsString({ message: 'HOOKS_SECRET must be set (16+ characters) when WEBHOOK_URL or JOIN_PROXY_URL is set' })
  get hooksSecretWithHooks(): string | undefined {
    return this.HOOKS_SECRET;
  }

  @ValidateIf((env: Environment) => env.JOIN_PROXY_ROOMS !== undefined && env.JOIN_PROXY_URL === undefined)
  @Matches(/^$/, { message: 'JOIN_PROXY_ROOMS applies only with JOIN_PROXY_URL: set JOIN_PROXY_URL too, or unset JOIN_PROXY_ROOMS' })
  get joinProxyRoomsWithoutUrl(): string {
    return this.JOIN_PROXY_ROOMS ?? '';
  }

  @ValidateIf((env: Environment) => env.JOIN_PROXY_ROOMS !== undefined && neverProxiedPatterns(env.JOIN_PROXY_ROOMS).length > 0)
  @Matches(/^$/, {
    message: ({ value }) =>
      `JOIN_PROXY_ROOMS lists ${value}, which can never apply: a user:* room is the user's own or no one's and a public:* room is open to all, so neither ever reaches the join proxy`,
  })
  get joinProxyRoomsNeverProxied(): string {
    return neverProxiedPatterns(this.JOIN_PROXY_ROOMS ?? '').join(', ');
  }

  /** Exactly one way to reach Redis (or none, for the embedded broker). */
  @ValidateIf((env: Environment) => env.redisModes.length > 1)
  @Matches(/^$/, { message: 'set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS' })
  get redisModeCount(): string {
    return this.redisModes.join(', ');
  }

  @ValidateIf((env: Environment) => env.REDIS_SENTINELS === undefined && env.redisCredentialsOutsideSentinel.length > 0)
  @Matches(/^$/, { message: 'REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD and REDIS_TLS apply only with REDIS_SENTINELS: with REDIS_URL or REDIS_CLUSTER_NODES write credentials and rediss:// in the URLs' })
  get redisSentinelSettingsWithoutSentinels(): string {
    return this.redisCredentialsOutsideSentinel.join(', ');
  }

  /** Replicas exist only with Redis: on the embedded broker a non-zero count promises nothing it keeps. */
  @ValidateIf((env: Environment) => env.redisModes.length === 0 && (env.REDIS_MIN_REPLICAS ?? 0) > 0)
  @Matches(/^$/, { message: 'REDIS_MIN_REPLICAS applies only with Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): the embedded broker has no replicas' })
  get minReplicasWithoutRedis(): string {
    return `${this.REDIS_MIN_REPLICAS}`;
  }

  /** WAIT holds the connection it runs on: past the command deadline it would mark Redis down. */
  @ValidateIf((env: Environment) => env.REDIS_REPLICA_WAIT_MS >= env.REDIS_COMMAND_TIMEOUT_MS && (env.REDIS_MIN_REPLICAS ?? (env.REDIS_CLUSTER_NODES ?? env.REDIS_SENTINELS ? 1 : 0)) > 0)
  @Matches(/^$/, { message: 'REDIS_REPLICA_WAIT_MS must be below REDIS_COMMAND_TIMEOUT_MS when publishes wait for replicas (REDIS_MIN_REPLICAS)' })
  get replicaWaitWithinCommandTimeout(): string {
    return `${this.REDIS_REPLICA_WAIT_MS}`;
  }

  /** Node refuses a request timeout shorter than the headers' (the request includes its headers). */
  @ValidateIf((env: Environment) => env.HTTP_REQUEST_TIMEOUT_MS !== undefined && env.HTTP_REQUEST_TIMEOUT_MS < env.HTTP_HEADERS_TIMEOUT_MS)
  @Matches(/^$/, { message: 'HTTP_REQUEST_TIMEOUT_MS must not be below HTTP_HEADERS_TIMEOUT_MS (a request includes its headers)' })
  get requestTimeoutCoversHeaders(): string {
    return `${this.HTTP_REQUEST_TIMEOUT_MS}`;
  }

  /** On a Cluster the publish script may only SPUBLISH in its room's slot: a channel per user. */
  @ValidateIf((env: Environment) => env.REDIS_CLUSTER_NODES !== undefined && (env.REDIS_PERSONAL_CHANNELS ?? 0) > 0)
  @Matches(/^$/, { message: 'REDIS_PERSONAL_CHANNELS must be 0 with REDIS_CLUSTER_NODES (a Cluster publishes each room in its own slot)' })
  get personalChannelsOnCluster(): string {
    return `${this.REDIS_PERSONAL_CHANNELS}`;
  }

  get redisModes(): string[] {
    const modes = { REDIS_URL: this.REDIS_URL, REDIS_CLUSTER_NODES: this.REDIS_CLUSTER_NODES, REDIS_SENTINELS: this.REDIS_SENTINELS };
    return Object.entries(modes)
      .filter(([, value]) => value !== undefined)
      .map(([name]) => name);
  }

  get redisCredentialsOutsideSentinel(): string[] {
    const settings = {
      REDIS_USERNAME: this.REDIS_USERNAME,
      REDIS_PASSWORD: this.REDIS_PASSWORD,
      REDIS_SENTINEL_USERNAME: this.REDIS_SENTINEL_USERNAME,
      REDIS_SENTINEL_PASSWORD: this.REDIS_SENTINEL_PASSWORD,
      REDIS_TLS: this.REDIS_TLS ? 'true' : undefined,
    };
    return Object.entries(settings)
      .filter(([, value]) => value !== undefined)
      .map(([name]) => name);
  }

  @ValidateIf((env: Environment) => env.NODE_ENV === 'production')
  @IsString({ message: 'JWT_SECRET or JWT_PUBLIC_KEY must be set when NODE_ENV=production' })
  get jwtKeyInProduction(): string | undefined {
    return this.JWT_SECRET ?? this.JWT_PUBLIC_KEY;
  }

}

export class ConfigurationError extends Error {
  /** `heading`: what kind of problem; a setting that is valid but names a server that cannot be reached is not an invalid one. */
  constructor(
    readonly problems: string[],
    heading = 'Invalid configuration:',
  ) {
    super(`${heading}\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigurationError';
  }
}

/** The names of every environment variable Herald reads. */
export function settingNames(): string[] {
  return Object.keys(new Environment());
}

/** Parses and validates raw environment variables; throws a ConfigurationError naming each bad variable. */
export function parseEnvironment(raw: Record<string, string | undefined>): Environment {
  const known = settingNames();
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    // An empty value is an unset one, for every variable alike: `PORT=` in an env file or a
    // manifest leaves the default, as `REDIS_URL=` always did, rather than reading as a bad number.
    if (value !== undefined && value !== '' && (known.includes(name) || name in Environment.prototype)) picked[name] = value;
  }
  const env = plainToInstance(Environment, picked, { exposeDefaultValues: true });
  const errors = validateSync(env, { forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new ConfigurationError(
      errors.flatMap((error) =>
        Object.values(typeFailureOnly(error.constraints ?? {})).map((message) =>
          // Derived checks (lower-case getters) write messages that name their variables.
          message.startsWith(error.property) || /^[a-z]/.test(error.property)
            ? message
            : `${error.property}: ${message}`,
        ),
      ),
    );
  }
  return env;
}
