import { Environment } from './environment';
import { listEntries } from './environment.transforms';
import { redactedRedisUrl } from './redacted-redis-url';

/** REDIS_PERSONAL_CHANNELS when unset (one Redis or Sentinel): every pod soon holds all of them. */
export const DEFAULT_PERSONAL_CHANNELS = 16;

/** The validated, typed configuration every module receives. Only config/ reads process.env. */
export class HeraldConfig {
  readonly isProduction: boolean;
  readonly port: number;
  readonly host: string;
  readonly internalPort: number | undefined;
  readonly wsPath: string;
  readonly logLevel: Environment['LOG_LEVEL'];
  readonly jwt: {
    secret: string | undefined;
    publicKey: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    /** True when no key was configured and a random development secret was generated. */
    ephemeral: boolean;
  };
  readonly allowedOrigins: string[] | undefined;
  readonly heartbeatMs: number;
  /** V8_NEW_SPACE_MAX_MB (0: V8's own sizing). */
  readonly v8NewSpaceMaxMb: number;
  readonly maxMessageBytes: number;
  readonly maxPublishBytes: number;
  readonly maxBatchPublishBytes: number;
  /** Deepest JSON nesting accepted in frames and HTTP bodies; the frame or body itself is level 1. */
  readonly maxJsonDepth: number;
  readonly rateLimitPerS: number;
  readonly sendBufferLimitBytes: number;
  readonly closeTimeoutMs: number;
  /** HTTP_HEADERS_TIMEOUT_MS (a handshake's headers too) and HTTP_REQUEST_TIMEOUT_MS (headers and body). */
  readonly httpTimeouts: { headersMs: number; requestMs: number };
  readonly maxConnections: number;
  /** MAX_CONNECTIONS_PER_USER; 0: none. */
  readonly maxConnectionsPerUser: number;
  /** LISTEN_BACKLOG: the backlog of each port's listen (the kernel may cap it lower). */
  readonly listenBacklog: number;
  /** permessage-deflate for clients that offer it, for messages of at least `minBytes`. */
  readonly wsCompression: { enabled: boolean; minBytes: number };
  readonly maxRoomsPerConnection: number;
  readonly presenceEventsMaxUsers: number;
  readonly historySize: number;
  readonly historyTtlS: number;
  readonly drainDelayMs: number;
  readonly drainSpreadMs: number;
  readonly redisUrl: string | undefined;
  /** How Herald reaches Redis: undefined for the embedded broker. */
  readonly redis: RedisTopology | undefined;
  /** REDIS_MIN_REPLICAS: replicas that must acknowledge a publication before 202. */
  readonly redisMinReplicas: number;
  readonly redisReplicaWaitMs: number;
  readonly redisPrefix: string;
  /** REDIS_PERSONAL_CHANNELS, with its default per mode applied (0 on a Cluster). */
  readonly redisPersonalChannels: number;
  /** REDIS_BATCH_WINDOW_MS: how long a pod gathers the Redis calls nobody waits on (anchor reads, presence counts and removes) before sending them. */
  readonly redisBatchWindowMs: number;
  /** REDIS_REPLAY_SIZE: publications a followed room keeps on each pod for rejoins. */
  readonly redisReplaySize: number;
  readonly redisCommandTimeoutMs: number;
  readonly inboxSize: number;
  /** INBOX_PAGE_MAX_BYTES. */
  readonly inboxPageMaxBytes: number;
  readonly inboxTtlDays: number;
  /** HISTORY_MEMORY_MAX_MB in bytes: the embedded engine's budget for every room's history together. */
  readonly historyMemoryMaxBytes: number;
  /** INBOX_MEMORY_MAX_MB in bytes: the embedded engine's budget for every inbox together. */
  readonly inboxMemoryMaxBytes: number;
  /** Section 8's webhooks; undefined when WEBHOOK_URL is unset. */
  readonly webhooks: WebhookSettings | undefined;
  /** Section 8's join proxy; undefined when JOIN_PROXY_URL is unset. */
  readonly joinProxy: JoinProxySettings | undefined;
  readonly demoEnabled: boolean;
  /** Whether POST /demo/token exists (see the constructor). */
  readonly demoTokenEndpoint: boolean;

  constructor(env: Environment, generateSecret: () => string) {
    this.isProduction = env.NODE_ENV === 'production';
    this.port = env.PORT;
    this.host = env.HOST;
    this.internalPort = env.INTERNAL_PORT;
    this.wsPath = env.WS_PATH;
    this.logLevel = env.LOG_LEVEL;
    const ephemeral = !env.JWT_SECRET && !env.JWT_PUBLIC_KEY;
    this.jwt = {
      secret: ephemeral ? generateSecret() : env.JWT_SECRET,
      publicKey: env.JWT_PUBLIC_KEY,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      ephemeral,
    };
    this.allowedOrigins = env.ALLOWED_ORIGINS === undefined ? undefined : listEntries(env.ALLOWED_ORIGINS);
    this.heartbeatMs = env.HEARTBEAT_MS;
    this.v8NewSpaceMaxMb = env.V8_NEW_SPACE_MAX_MB;
    this.maxMessageBytes = env.MAX_MESSAGE_BYTES;
    this.maxPublishBytes = env.MAX_PUBLISH_BYTES;
    this.maxBatchPublishBytes = env.MAX_BATCH_PUBLISH_BYTES;
    this.maxJsonDepth = env.MAX_JSON_DEPTH;
    this.rateLimitPerS = env.RATE_LIMIT_PER_S;
    this.sendBufferLimitBytes = env.SEND_BUFFER_LIMIT_BYTES;
    this.closeTimeoutMs = env.CLOSE_TIMEOUT_MS;
    this.httpTimeouts = { headersMs: env.HTTP_HEADERS_TIMEOUT_MS, requestMs: env.httpRequestTimeoutMs };
    this.maxConnections = env.MAX_CONNECTIONS;
    this.maxConnectionsPerUser = env.MAX_CONNECTIONS_PER_USER;
    this.listenBacklog = env.LISTEN_BACKLOG;
    this.wsCompression = { enabled: env.WS_COMPRESSION, minBytes: env.WS_COMPRESSION_MIN_BYTES };
    this.maxRoomsPerConnection = env.MAX_ROOMS_PER_CONNECTION;
    this.presenceEventsMaxUsers = env.PRESENCE_EVENTS_MAX_USERS;
    this.historySize = env.HISTORY_SIZE;
    this.historyTtlS = env.HISTORY_TTL_S;
    this.drainDelayMs = env.DRAIN_DELAY_MS;
    this.drainSpreadMs = env.DRAIN_SPREAD_MS;
    this.redisUrl = env.REDIS_URL;
    this.redis = redisTopology(env);
    // A single server usually has no replica; Cluster and Sentinel exist to have them.
    this.redisMinReplicas = env.REDIS_MIN_REPLICAS ?? (this.redis === undefined || this.redis.mode === 'standalone' ? 0 : 1);
    this.redisReplicaWaitMs = env.REDIS_REPLICA_WAIT_MS;
    this.redisPrefix = env.REDIS_PREFIX;
    this.redisPersonalChannels = env.REDIS_PERSONAL_CHANNELS ?? (this.redis?.mode === 'cluster' ? 0 : DEFAULT_PERSONAL_CHANNELS);
    this.redisBatchWindowMs = env.REDIS_BATCH_WINDOW_MS;
    this.redisReplaySize = env.REDIS_REPLAY_SIZE;
    this.redisCommandTimeoutMs = env.REDIS_COMMAND_TIMEOUT_MS;
    this.inboxSize = env.INBOX_SIZE;
    this.inboxPageMaxBytes = env.INBOX_PAGE_MAX_BYTES;
    this.inboxTtlDays = env.INBOX_TTL_DAYS;
    this.inboxMemoryMaxBytes = env.INBOX_MEMORY_MAX_MB * 1024 * 1024;
    this.historyMemoryMaxBytes = env.HISTORY_MEMORY_MAX_MB * 1024 * 1024;
    this.webhooks =
      env.WEBHOOK_URL === undefined
        ? undefined
        : {
            url: env.WEBHOOK_URL,
            secret: env.HOOKS_SECRET!,
            batchMax: env.WEBHOOK_BATCH_MAX,
            batchMs: env.WEBHOOK_BATCH_MS,
            unreadAfterS: env.WEBHOOK_UNREAD_AFTER_S,
            retryS: env.WEBHOOK_RETRY_S,
            timeoutMs: env.WEBHOOK_TIMEOUT_MS,
            queueMax: env.WEBHOOK_QUEUE_MAX,
          };
    this.joinProxy =
      env.JOIN_PROXY_URL === undefined
        ? undefined
        : {
            url: env.JOIN_PROXY_URL,
            secret: env.HOOKS_SECRET!,
            rooms: listEntries(env.JOIN_PROXY_ROOMS!),
            timeoutMs: env.JOIN_PROXY_TIMEOUT_MS,
            concurrency: env.JOIN_PROXY_CONCURRENCY,
            cacheSize: env.JOIN_PROXY_CACHE_SIZE,
          };
    this.demoEnabled = env.DEMO_ENABLED ?? !this.isProduction;
    // Anyone may mint any token there, so it exists only outside production, and with a
    // configured secret only when DEMO_ENABLED=true says so: a forgotten NODE_ENV=production
    // must not hand out publish tokens signed with the real key.
    this.demoTokenEndpoint = this.demoEnabled && !this.isProduction && (ephemeral || env.DEMO_ENABLED === true);
  }
}

export interface WebhookSettings {
  url: string;
  /** HOOKS_SECRET. */
  secret: string;
  batchMax: number;
  batchMs: number;
  /** 0: no notification.unread. */
  unreadAfterS: number;
  retryS: number;
  timeoutMs: number;
  queueMax: number;
}

export interface JoinProxySettings {
  url: string;
  /** HOOKS_SECRET. */
  secret: string;
  /** JOIN_PROXY_ROOMS: room names, or prefixes ending in `*`. */
  rooms: string[];
  timeoutMs: number;
  /** JOIN_PROXY_CONCURRENCY: requests open at a time (RequestSlots). */
  concurrency: number;
  cacheSize: number;
}

/**
 * The three ways to reach Redis; exactly one is configured (validated in environment.ts).
 * Credentials travel inside; `describeRedis` is what may be logged.
 */
export type RedisTopology =
  | { mode: 'standalone'; url: string }
  | { mode: 'cluster'; seeds: string[] }
  | {
      mode: 'sentinel';
      sentinels: Array<{ host: string; port: number }>;
      masterName: string;
      username: string | undefined;
      password: string | undefined;
      sentinelUsername: string | undefined;
      sentinelPassword: string | undefined;
      tls: boolean;
    };

function redisTopology(env: Environment): RedisTopology | undefined {
  if (env.REDIS_URL !== undefined) return { mode: 'standalone', url: env.REDIS_URL };
  if (env.REDIS_CLUSTER_NODES !== undefined) return { mode: 'cluster', seeds: listEntries(env.REDIS_CLUSTER_NODES) };
  if (env.REDIS_SENTINELS === undefined) return undefined;
  return {
    mode: 'sentinel',
    sentinels: listEntries(env.REDIS_SENTINELS).map((entry) => {
      const colon = entry.lastIndexOf(':');
      return { host: entry.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(entry.slice(colon + 1)) };
    }),
    masterName: env.REDIS_SENTINEL_MASTER!,
    username: env.REDIS_USERNAME,
    password: env.REDIS_PASSWORD,
    sentinelUsername: env.REDIS_SENTINEL_USERNAME,
    sentinelPassword: env.REDIS_SENTINEL_PASSWORD,
    tls: env.REDIS_TLS,
  };
}

/** A password-free description of how Redis is reached, for logs and start-up errors. */
export function describeRedis(topology: RedisTopology): string {
  switch (topology.mode) {
    case 'standalone':
      return redactedRedisUrl(topology.url);
    case 'cluster':
      return `cluster ${topology.seeds.map(redactedRedisUrl).join(',')}`;
    case 'sentinel':
      return `sentinel ${topology.masterName} via ${topology.sentinels.map(({ host, port }) => `${host}:${port}`).join(',')}${topology.tls ? ' (TLS)' : ''}`;
  }
}
