import { ConfigurationError, parseEnvironment } from './environment';
import { HeraldConfig, describeRedis } from './herald.config';

const configOf = (raw: Record<string, string>) => new HeraldConfig(parseEnvironment(raw), () => 'generated-development-secret');

describe('Redis connection modes', () => {
  it('reads Cluster seeds with credentials and TLS from their URLs, and asks one replica by default', () => {
    const config = configOf({ REDIS_CLUSTER_NODES: 'rediss://:s3cret@10.0.0.1:6379, rediss://:s3cret@10.0.0.2:6379' });
    expect(config.redis).toEqual({ mode: 'cluster', seeds: ['rediss://:s3cret@10.0.0.1:6379', 'rediss://:s3cret@10.0.0.2:6379'] });
    expect(config.redisMinReplicas).toBe(1);
    expect(config.redisReplicaWaitMs).toBe(1000);
  });

  it('reads Sentinel addresses, the primary name and the credentials of both', () => {
    const config = configOf({
      REDIS_SENTINELS: 'sentinel-0:26379,10.0.0.9:26380',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_PASSWORD: 'data-pass',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pass',
      REDIS_TLS: 'true',
    });
    expect(config.redis).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: '10.0.0.9', port: 26380 },
      ],
      masterName: 'mymaster',
      username: undefined,
      password: 'data-pass',
      sentinelUsername: undefined,
      sentinelPassword: 'sentinel-pass',
      tls: true,
    });
    expect(config.redisMinReplicas).toBe(1);
  });

  it('takes sentinel host names with underscores, as REDIS_URL takes them (Docker Compose service names)', () => {
    expect(configOf({ REDIS_SENTINELS: 'redis_sentinel_1:26379', REDIS_SENTINEL_MASTER: 'mymaster' }).redis).toMatchObject({ sentinels: [{ host: 'redis_sentinel_1', port: 26379 }] });
    expect(configOf({ REDIS_SENTINELS: '[::1]:26379,[fd00::9]:26380,10.0.0.9:26381,sentinel.herald.svc.cluster.local.:26382', REDIS_SENTINEL_MASTER: 'mymaster' }).redis).toMatchObject({
      sentinels: [{ host: '::1', port: 26379 }, { host: 'fd00::9', port: 26380 }, { host: '10.0.0.9', port: 26381 }, { host: 'sentinel.herald.svc.cluster.local.', port: 26382 }],
    });
    expect(configOf({ REDIS_URL: 'redis://redis_1:6379' }).redis).toEqual({ mode: 'standalone', url: 'redis://redis_1:6379' });
  });

  it('asks no replica with REDIS_URL unless told to, and none without Redis', () => {
    expect(configOf({ REDIS_URL: 'redis://redis:6379' }).redisMinReplicas).toBe(0);
    expect(configOf({ REDIS_URL: 'redis://redis:6379', REDIS_MIN_REPLICAS: '2', REDIS_REPLICA_WAIT_MS: '250' })).toMatchObject({ redisMinReplicas: 2, redisReplicaWaitMs: 250 });
    expect(configOf({ REDIS_CLUSTER_NODES: 'redis://a:6379', REDIS_MIN_REPLICAS: '0' }).redisMinReplicas).toBe(0);
    expect(configOf({}).redis).toBeUndefined();
  });

  it('shares 16 channels among personal rooms unless told otherwise, and none on a Cluster', () => {
    expect(configOf({ REDIS_URL: 'redis://redis:6379' }).redisPersonalChannels).toBe(16);
    expect(configOf({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }).redisPersonalChannels).toBe(16);
    expect(configOf({ REDIS_URL: 'redis://redis:6379', REDIS_PERSONAL_CHANNELS: '0' }).redisPersonalChannels).toBe(0);
    expect(configOf({ REDIS_URL: 'redis://redis:6379', REDIS_PERSONAL_CHANNELS: '256' }).redisPersonalChannels).toBe(256);
    expect(configOf({ REDIS_CLUSTER_NODES: 'redis://a:6379' }).redisPersonalChannels).toBe(0);
    expect(configOf({ REDIS_CLUSTER_NODES: 'redis://a:6379', REDIS_PERSONAL_CHANNELS: '0' }).redisPersonalChannels).toBe(0);
  });

  it.each([
    [{ REDIS_URL: 'redis://a:6379', REDIS_PERSONAL_CHANNELS: '-1' }, 'REDIS_PERSONAL_CHANNELS'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_PERSONAL_CHANNELS: '1025' }, 'REDIS_PERSONAL_CHANNELS'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_PERSONAL_CHANNELS: 'many' }, 'REDIS_PERSONAL_CHANNELS'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379', REDIS_PERSONAL_CHANNELS: '16' }, 'REDIS_PERSONAL_CHANNELS must be 0 with REDIS_CLUSTER_NODES'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'redis://b:6379' }, 'set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS'],
    [{ REDIS_CLUSTER_NODES: 'redis://b:6379', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }, 'set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's:26379' }, 'REDIS_SENTINEL_MASTER must be set with REDIS_SENTINELS'],
    [{ REDIS_SENTINEL_MASTER: 'mymaster' }, 'REDIS_SENTINEL_MASTER must be set with REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'mymaster ' }, "REDIS_SENTINEL_MASTER must be the monitored primary's name as sentinel monitor gives it: 1 to 128 letters, digits, _ . : or -, no spaces"],
    [{ REDIS_SENTINELS: 'sentinel-0', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS must be comma-separated host:port pairs'],
    [{ REDIS_SENTINELS: 'sentinel-0:99999', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS must be comma-separated host:port pairs'],
    ...['-s:26379', 'a..b:26379', 'sentinel-:26379', '[::1:26379', '[sentinel-0]:26379', '[1.2.3.4]:26379', '[]:26379', 'sentinel-0:0', ' :26379', '300.1.1.1:26379', '1.2.3:26379', '.:26379'].map(
      (entry) => [{ REDIS_SENTINELS: `s:26379,${entry}`, REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS must be comma-separated host:port pairs'] as [Record<string, string>, string],
    ),
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379,rediss://b:6379' }, 'REDIS_CLUSTER_NODES must be comma-separated redis://'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379/1' }, 'REDIS_CLUSTER_NODES must be comma-separated redis://'],
    [{ REDIS_CLUSTER_NODES: 'a:6379' }, 'REDIS_CLUSTER_NODES must be comma-separated redis://'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379,redis://u:a%zz@b:6379' }, 'a % in the user name or password written as %25'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'x' }, 'apply only with REDIS_SENTINELS'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379', REDIS_TLS: 'true' }, 'apply only with REDIS_SENTINELS'],
    [{ REDIS_MIN_REPLICAS: '-1' }, 'REDIS_MIN_REPLICAS'],
    [{ REDIS_MIN_REPLICAS: 'one' }, 'REDIS_MIN_REPLICAS'],
    [{ REDIS_REPLICA_WAIT_MS: '0' }, 'REDIS_REPLICA_WAIT_MS'],
    [{ REDIS_TLS: 'maybe' }, 'REDIS_TLS'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379', REDIS_REPLICA_WAIT_MS: '2000' }, 'REDIS_REPLICA_WAIT_MS must be below REDIS_COMMAND_TIMEOUT_MS'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_MIN_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '3000', REDIS_COMMAND_TIMEOUT_MS: '2500' }, 'REDIS_REPLICA_WAIT_MS must be below REDIS_COMMAND_TIMEOUT_MS'],
  ])('stops start-up on %j, naming the variables', (raw, message) => {
    expect(() => parseEnvironment(raw)).toThrow(ConfigurationError);
    expect(() => parseEnvironment(raw)).toThrow(message);
  });

  it.each<Record<string, string>>([
    { REDIS_CLUSTER_NODES: 'redis://a:6379' },
    { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'mymaster' },
  ])('starts webhooks with %j, in the same Redis topology as the broker', (redis) => {
    const config = configOf({ ...redis, WEBHOOK_URL: 'https://backend.example/hooks', HOOKS_SECRET: 'sixteen-chars-ok' });
    expect(config.webhooks?.url).toBe('https://backend.example/hooks');
    expect(config.redis?.mode).toBe('REDIS_CLUSTER_NODES' in redis ? 'cluster' : 'sentinel');
  });

  it('lets a short command deadline pass when no publish waits for replicas', () => {
    expect(configOf({ REDIS_URL: 'redis://a:6379', REDIS_COMMAND_TIMEOUT_MS: '500' }).redisCommandTimeoutMs).toBe(500);
  });

  it('never puts a password in the description it logs', () => {
    const described = [
      describeRedis({ mode: 'standalone', url: 'redis://:s3cret@redis:6379' }),
      describeRedis({ mode: 'cluster', seeds: ['rediss://user:s3cret@a:6379', 'rediss://user:s3cret@b:6379'] }),
      describeRedis(configOf({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_PASSWORD: 's3cret', REDIS_SENTINEL_PASSWORD: 's3cret' }).redis!),
    ];
    for (const text of described) expect(text).not.toContain('s3cret');
    expect(described[1]).toBe('cluster rediss://user:***@a:6379,rediss://user:***@b:6379');
    expect(described[2]).toBe('sentinel mymaster via s:26379');
  });

  it('never puts a password written in the user position (no colon) in the description it logs', () => {
    expect(describeRedis({ mode: 'standalone', url: 'redis://S3CRET@redis:6379' })).toBe('redis://***@redis:6379');
    expect(describeRedis({ mode: 'cluster', seeds: ['redis://S3CRET@a:6379', 'redis://S3CRET@b:6379'] })).toBe('cluster redis://***@a:6379,redis://***@b:6379');
  });
});
