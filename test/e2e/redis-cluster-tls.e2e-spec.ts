import { http, publish } from '../support/http';
import { RedisCluster, startRedisCluster } from '../support/redis-cluster';
import { spawnServer } from '../support/spawned-server';

/** REDIS_CLUSTER_NODES over TLS with a password: the nodes the cluster announces are reached the same way. */
describe('a Redis Cluster over TLS', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster({ tls: true, password: 'cluster-tls-pass' });
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('connects with rediss:// seeds and a password, trusting the CA given to Node, and never logs the password', async () => {
    const server = await spawnServer({ REDIS_CLUSTER_NODES: cluster.seeds, NODE_EXTRA_CA_CERTS: cluster.caFile!, LOG_LEVEL: 'debug' });
    try {
      expect((await http('GET', `${server.url}/readyz`)).status).toBe(200);
      expect((await publish(server.url, { rooms: ['public:tls'], type: 'test', payload: {} })).status).toBe(202);
      expect(server.output()).toContain('rediss://:***@127.0.0.1');
      expect(server.output()).not.toContain('cluster-tls-pass');
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });

  it('refuses to start naming REDIS_CLUSTER_NODES when the certificate is not trusted', async () => {
    const server = await spawnServer({ REDIS_CLUSTER_NODES: cluster.seeds }, { waitReady: false });
    expect(await server.exited).toEqual({ code: 1, signal: null });
    expect(server.output()).toContain('REDIS_CLUSTER_NODES: Cannot connect to the Redis Cluster at rediss://:***@127.0.0.1');
    expect(server.output()).not.toContain('cluster-tls-pass');
  });
});
