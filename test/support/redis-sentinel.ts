import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually';
import { freePort } from './free-port';
import { RedisProcess, redisCli, spawnRedisProcess } from './redis-process';
import { selfSignedCertificate } from './redis-server';

/**
 * A private Sentinel set: one primary, two replicas and three sentinels (quorum 2) on free
 * loopback ports, with short down-after and failover timeouts so a killed primary is replaced
 * within seconds. Start it once per suite.
 */
export interface RedisSentinelSet {
  /** Comma-separated host:port of the sentinels, as REDIS_SENTINELS takes them. */
  readonly sentinels: string;
  /** As REDIS_SENTINEL_MASTER takes it. */
  readonly masterName: string;
  readonly password: string | undefined;
  /** With `tls`: the self-signed certificate clients must trust (PEM file). */
  readonly caFile: string | undefined;
  /** Primary first, then the replicas, as started; which one is primary changes on failover. */
  readonly servers: readonly RedisProcess[];
  readonly sentinelProcesses: readonly RedisProcess[];
  /** The server most running sentinels currently name as primary. */
  primary(): Promise<RedisProcess>;
  cli(server: RedisProcess, args: string[]): Promise<string>;
  /**
   * Waits until the sentinels agree on a live primary that has `replicas` connected replicas:
   * all of them, or with `majority` most of those running (one that missed a failover may take
   * a long while to learn of it on a loaded machine, and pods skip what it names: ROLE).
   */
  waitHealthy(replicas?: number, timeoutMs?: number, agreeing?: 'all' | 'majority'): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisSentinelOptions {
  /** requirepass/masterauth on the data servers; the sentinels authenticate with it too. */
  password?: string;
  replicas?: number;
  downAfterMs?: number;
  /** TLS only (servers, replication and sentinels), with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

export async function startRedisSentinels(options: RedisSentinelOptions = {}): Promise<RedisSentinelSet> {
  const directory = mkdtempSync(join(tmpdir(), 'redis-sentinel-'));
  // A name of its own: sentinels take hello messages about the masters they monitor by name, and
  // sets run side by side (two jest workers) could share an instance when one set's killed
  // primary's port is taken by the other's next server: with one name, their sentinels merged.
  const masterName = `herald-primary-${randomBytes(4).toString('hex')}`;
  const servers: RedisProcess[] = [];
  const sentinels: RedisProcess[] = [];
  const certificate = options.tls ? selfSignedCertificate() : undefined;
  const stop = async () => {
    await Promise.all([...sentinels, ...servers].map((node) => node.stop().catch(() => node.kill())));
    rmSync(directory, { recursive: true, force: true });
    certificate?.remove();
  };
  const tlsFiles = certificate
    ? ['--tls-cert-file', certificate.certFile, '--tls-key-file', certificate.keyFile, '--tls-ca-cert-file', certificate.certFile, '--tls-auth-clients', 'no', '--tls-replication', 'yes']
    : [];
  const listen = (port: number) => (certificate ? ['--port', '0', '--tls-port', String(port), ...tlsFiles] : ['--port', String(port)]);
  const tls = certificate !== undefined;
  const auth = options.password === undefined ? [] : ['--requirepass', options.password, '--masterauth', options.password];
  try {
    const primaryPort = await freePort();
    // Replicas sync at once instead of after the default 5 s diskless delay.
    const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory, '--repl-diskless-sync-delay', '0', ...auth];
    servers.push(await spawnRedisProcess([...listen(primaryPort), ...base], primaryPort, tls));
    for (let index = 0; index < (options.replicas ?? 2); index++) {
      const port = await freePort();
      servers.push(await spawnRedisProcess([...listen(port), ...base, '--replicaof', '127.0.0.1', String(primaryPort)], port, tls));
    }
    for (let index = 0; index < 3; index++) {
      const port = await freePort();
      const file = join(directory, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file as it learns the topology, so each needs its own.
      writeFileSync(
        file,
        [
          ...(certificate
            ? ['port 0', `tls-port ${port}`, `tls-cert-file ${certificate.certFile}`, `tls-key-file ${certificate.keyFile}`, `tls-ca-cert-file ${certificate.certFile}`, 'tls-auth-clients no', 'tls-replication yes']
            : [`port ${port}`]),
          'bind 127.0.0.1',
          `dir ${directory}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 2`,
          ...(options.password === undefined ? [] : [`sentinel auth-pass ${masterName} ${options.password}`]),
          '',
        ].join('\n'),
      );
      sentinels.push(await spawnRedisProcess([file, '--sentinel'], port, tls));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const cli = (server: RedisProcess, args: string[]) => redisCli(server.port, args, sentinels.includes(server) ? undefined : options.password, certificate?.certFile);
  /**
   * What the running sentinels name as the primary: the port most of them name, how many do, and
   * each one's answer (a sentinel that names none gives undefined).
   */
  const votesForPrimary = async () => {
    const running = sentinels.filter((candidate) => candidate.running);
    const named = await Promise.all(running.map(async (sentinel) => (await cli(sentinel, ['SENTINEL', 'get-master-addr-by-name', masterName])).trim().split('\n')[1]));
    const votesFor = new Map<string, number>();
    for (const answer of named) if (answer !== undefined) votesFor.set(answer, (votesFor.get(answer) ?? 0) + 1);
    const [port, votes] = [...votesFor].sort((a, b) => b[1] - a[1])[0] ?? [undefined, 0];
    return { port: port === undefined ? undefined : Number(port), votes, running: running.length, named };
  };
  const serverOn = (port: number | undefined): RedisProcess => {
    if (port === undefined) throw new Error('No sentinel names a primary');
    const server = servers.find((candidate) => candidate.port === port);
    if (!server) throw new Error(`Sentinels name an unknown primary on port ${port}`);
    return server;
  };

  const set: RedisSentinelSet = {
    sentinels: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
    masterName,
    password: options.password,
    caFile: certificate?.certFile,
    servers,
    sentinelProcesses: sentinels,
    async primary() {
      return serverOn((await votesForPrimary()).port);
    },
    cli,
    async waitHealthy(replicas = options.replicas ?? 2, timeoutMs = 30_000, agreeing = 'all') {
      await eventually(
        async () => {
          const { port, votes, running, named } = await votesForPrimary();
          const needed = agreeing === 'all' ? running : Math.floor(running / 2) + 1;
          if (votes < needed) throw new Error(`sentinels disagree: they name ${named.join(', ')}`);
          const primary = serverOn(port);
          if (!primary.running) throw new Error(`sentinels still name dead primary ${primary.port}`);
          const info = await cli(primary, ['INFO', 'replication']);
          if (!info.includes('role:master')) throw new Error(`${primary.port} is not primary yet`);
          const connected = [...info.matchAll(/slave\d+:.*state=online/g)].length;
          if (connected < replicas) throw new Error(`${primary.port} has ${connected} of ${replicas} replicas`);
        },
        timeoutMs,
        100,
      );
    },
    stop,
  };
  await set.waitHealthy();
  return set;
}
