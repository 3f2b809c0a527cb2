import { tmpdir } from 'node:os';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { http } from '../support/http';
import { spawnRedisProcess } from '../support/redis-process';
import { startRedis } from '../support/redis-server';
import { spawnServer } from '../support/spawned-server';
import { createTestApp } from '../support/test-app';

/** REDIS_URL at start-up (section 7): auth and TLS work, and a bad URL is a clear refusal to start. */
describe('connecting to Redis at start-up', () => {
  it('warns, without JWT_SECRET, that every pod on Redis makes its own development secret', async () => {
    const redis = await startRedis();
    try {
      const server = await spawnServer({ NODE_ENV: 'development', JWT_SECRET: '', REDIS_URL: redis.url });
      expect(server.output()).toContain('JWT_SECRET is not set');
      expect(server.output()).toContain('a token from one pod is refused by the others, so give every pod the same JWT_SECRET');
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    } finally {
      await redis.stop();
    }
  });

  it('refuses to start with exit code 1 and a message naming REDIS_URL, never its password', async () => {
    const gone = await startRedis();
    await gone.stop();
    const server = await spawnServer({ REDIS_URL: `redis://herald:hunter2-secret@127.0.0.1:${gone.port}` }, { waitReady: false });
    expect(await server.exited).toEqual({ code: 1, signal: null });
    expect(server.output()).toContain(`REDIS_URL: Cannot connect to Redis at redis://herald:***@127.0.0.1:${gone.port}`);
    expect(server.output()).toMatch(/ECONNREFUSED/);
    // Not "invalid configuration": the URL may be right and Redis down.
    expect(server.output()).toContain('Herald cannot start. Redis cannot be used with the setting below: if Redis refused it, change the setting; if Redis could not be reached, check that it is up');
    expect(server.output()).not.toContain('Invalid configuration');
    expect(server.output()).not.toContain('hunter2-secret');
  });

  it.each(['REDIS_URL', 'REDIS_CLUSTER_NODES'])('never logs a password written in the user position of %s (no colon), in its warnings or its last line', async (setting) => {
    const gone = await startRedis();
    await gone.stop();
    const server = await spawnServer({ [setting]: `redis://S3CRET-IN-USER@127.0.0.1:${gone.port}` }, { waitReady: false });
    expect(await server.exited).toEqual({ code: 1, signal: null });
    expect(server.output()).toContain(`${setting}: Cannot connect to`);
    expect(server.output()).toContain(`redis://***@127.0.0.1:${gone.port}`);
    expect(server.output()).not.toContain('S3CRET-IN-USER');
  });

  it.each([
    ['16', 'ERR DB index is out of range'],
    ['99999999999999999999', 'ERR value is not an integer or out of range'],
  ])('refuses at once, naming REDIS_URL, a database %s that Redis refuses: a setting no further try mends', async (database, reply) => {
    const redis = await startRedis({ password: 'hunter2-secret' });
    try {
      const server = await spawnServer({ REDIS_URL: `${redis.url}/${database}` }, { waitReady: false });
      expect(await server.exited).toEqual({ code: 1, signal: null });
      const output = server.output();
      expect(output).toContain(`REDIS_URL: Redis at redis://:***@127.0.0.1:${redis.port}/${database} answers, and refuses database ${database} (${reply}): set REDIS_URL's database to one the server has`);
      // One connect, not the five tries an unreachable Redis gets.
      expect(output.match(/Redis connection error/g)).toHaveLength(1);
      expect(output).not.toContain('Cannot connect to Redis');
      expect(output).not.toContain('hunter2-secret');
    } finally {
      await redis.stop();
    }
  });

  it('refuses to start with REDIS_URL at a Redis Cluster node, naming REDIS_CLUSTER_NODES instead of serving its slots only', async () => {
    const port = await freePort();
    const node = await spawnRedisProcess(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', tmpdir()], port);
    try {
      await expect(createTestApp({ REDIS_URL: `redis://127.0.0.1:${port}` })).rejects.toThrow(/REDIS_URL: .*Redis Cluster node \(cluster_enabled:1\).*REDIS_CLUSTER_NODES/);
    } finally {
      await node.stop();
    }
  });

  it('refuses at once REDIS_CLUSTER_NODES at a single Redis server, naming REDIS_URL instead of saying no node is available', async () => {
    const redis = await startRedis({ password: 'hunter2-secret' });
    try {
      const server = await spawnServer({ REDIS_CLUSTER_NODES: redis.url }, { waitReady: false });
      expect(await server.exited).toEqual({ code: 1, signal: null });
      const output = server.output();
      expect(output).toContain(`REDIS_CLUSTER_NODES: redis://:***@127.0.0.1:${redis.port}: a node there is not a Redis Cluster node (cluster_enabled:0 in INFO cluster), so it has no slot map to follow: give a single Redis server in REDIS_URL instead`);
      // The node answered: no try would change its answer.
      expect(output).not.toContain('trying again');
      expect(output).not.toContain('All the root nodes are unavailable');
      expect(output).not.toContain('hunter2-secret');
    } finally {
      await redis.stop();
    }
  });

  it('warns at start-up when REDIS_MIN_REPLICAS asks for more replicas than the server has, naming the setting', async () => {
    const redis = await startRedis();
    try {
      const server = await spawnServer({ REDIS_URL: redis.url, REDIS_MIN_REPLICAS: '1' });
      try {
        await eventually(() => expect(server.output()).toContain('REDIS_MIN_REPLICAS is 1 but Redis has 0 connected replica(s)'));
      } finally {
        server.child.kill('SIGKILL');
        await server.exited;
      }
    } finally {
      await redis.stop();
    }
  });

  it('connects over TLS (rediss://) with a password, trusting the CA given to Node', async () => {
    const redis = await startRedis({ tls: true, password: 'tls-pass' });
    try {
      const server = await spawnServer({ REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: redis.caFile! });
      try {
        expect((await http('GET', `${server.url}/readyz`)).status).toBe(200);
        expect(server.output()).not.toContain('tls-pass');
      } finally {
        server.child.kill('SIGKILL');
        await server.exited;
      }
    } finally {
      await redis.stop();
    }
  });

  it('refuses to start when the Redis TLS certificate is not trusted, and says why', async () => {
    const redis = await startRedis({ tls: true });
    try {
      const server = await spawnServer({ REDIS_URL: redis.url }, { waitReady: false });
      expect(await server.exited).toEqual({ code: 1, signal: null });
      expect(server.output()).toContain('REDIS_URL: Cannot connect to Redis at rediss://127.0.0.1');
      expect(server.output()).toMatch(/self[- ]signed certificate/i);
    } finally {
      await redis.stop();
    }
  });
});
