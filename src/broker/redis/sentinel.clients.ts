import { PlainClientOptions, PlainRedisClient, createPlainRedisClient } from './redis.client';

export interface SentinelAddress {
  host: string;
  port: number;
}

/** How to reach the sentinels and the servers they name: what every Sentinel piece builds its clients from. */
export interface SentinelAccess {
  sentinels: SentinelAddress[];
  masterName: string;
  /** Credentials of the Redis servers. */
  username?: string;
  password?: string;
  /** The sentinels' own credentials, when they require them. */
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls?: boolean;
  commandTimeoutMs: number;
}

/** `host:port` of a server the sentinels name, an IPv6 host in brackets. */
export function serverAddress(host: string, port: string): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The URL of a Redis server of this set, with its credentials. */
export function serverUrl(access: SentinelAccess, address: string): string {
  const { username, password, tls } = access;
  const credentials = username === undefined && password === undefined ? '' : `${encodeURIComponent(username ?? '')}:${encodeURIComponent(password ?? '')}@`;
  return `${tls ? 'rediss' : 'redis'}://${credentials}${address}`;
}

/** A client of one sentinel: reconnecting by itself (`reconnect`) or given up when lost. */
export function sentinelClient(access: SentinelAccess, sentinel: SentinelAddress, reconnect = false): PlainRedisClient {
  return createPlainRedisClient({
    username: access.sentinelUsername,
    password: access.sentinelPassword,
    disableOfflineQueue: true,
    socket: { host: sentinel.host, port: sentinel.port, tls: access.tls === true, connectTimeout: access.commandTimeoutMs, reconnectStrategy: reconnect ? undefined : false },
  } as PlainClientOptions);
}

/** A client of one server for one question, never reconnecting. */
export function serverClient(access: SentinelAccess, address: string): PlainRedisClient {
  return createPlainRedisClient({ url: serverUrl(access, address), disableOfflineQueue: true, socket: { connectTimeout: access.commandTimeoutMs, reconnectStrategy: false } });
}

/** The sentinels as REDIS_SENTINELS lists them, for errors. */
export function describeSentinels(sentinels: SentinelAddress[]): string {
  return sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
}
