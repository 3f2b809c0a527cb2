import { ErrorReply } from 'redis';
import { BrokerUnavailableError, UnconfirmedCallError } from '../broker';
import { createServer, Socket } from 'node:net';
import { eventually } from '../../../test/support/eventually';
import { createHeraldCluster } from './cluster.client';
import { asCallError, createPlainRedisClient, createRedisClient, destroyClient } from './redis.client';

describe('asCallError', () => {
  it.each([
    ['a WAIT that reached a primary deposed since its write', 'ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.'],
    ['a WAIT a failover interrupted by demoting its primary', 'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)'],
    ['a write to a replica', "READONLY You can't write against a read only replica. script: 5cf58ccc, on @user_script:1."],
    ['a full Redis under noeviction', "OOM command not allowed when used memory > 'maxmemory'. script: fe144b72, on @user_script:33."],
    ['a Redis loading its data', 'LOADING Redis is loading the dataset in memory'],
    ['a cluster without a slot', 'CLUSTERDOWN The cluster is down'],
  ])('answers %s as unavailable (503), not as a fault of the call', (_case, reply) => {
    const error = asCallError('publish', new ErrorReply(reply));
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    // Redis answered: unavailable for now, not unreachable, with its reply for the logs.
    expect(error.message).toBe(`The message broker is unavailable (Redis refused the publish: ${reply})`);
  });

  it('tells which refusals may follow an applied write: a refused WAIT and an unanswered call, not a refused command', () => {
    // The WAIT comes after its write, which the primary ran: the 503 must not say nothing was stored.
    for (const reply of ['UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)', 'ERR WAIT cannot be used with replica instances.']) {
      expect(asCallError('WAIT', new ErrorReply(reply))).toBeInstanceOf(UnconfirmedCallError);
    }
    // No answer: Redis may have run it, and may still.
    expect(asCallError('publish', new Error('Socket closed unexpectedly'))).toMatchObject({ mayHaveApplied: true, unconfirmedBecause: 'Redis did not answer in time' });
    // Refused before it ran.
    const refused = asCallError('publish', new ErrorReply("OOM command not allowed when used memory > 'maxmemory'."));
    expect(refused).not.toBeInstanceOf(UnconfirmedCallError);
    expect((refused as BrokerUnavailableError).mayHaveApplied).toBe(false);
  });

  it('passes on a reply about the command itself, and words anything else as unavailable', () => {
    const wrong = new ErrorReply("ERR wrong number of arguments for 'wait' command");
    expect(asCallError('WAIT', wrong)).toBe(wrong);
    const lost = asCallError('WAIT', new Error('Socket closed unexpectedly'));
    expect(lost).toBeInstanceOf(BrokerUnavailableError);
    expect(lost.message).toBe('The message broker is unreachable (Redis WAIT: Socket closed unexpectedly)');
    const unavailable = new BrokerUnavailableError('already unavailable');
    expect(asCallError('WAIT', unavailable)).toBe(unavailable);
  });

  it("adds a mode's own replies to unavailable ones (a Cluster's redirections)", () => {
    expect(asCallError('publish', new ErrorReply('MOVED 3999 127.0.0.1:6381'), /^(MOVED|ASK)\b/)).toBeInstanceOf(BrokerUnavailableError);
    const moved = new ErrorReply('MOVED 3999 127.0.0.1:6381');
    expect(asCallError('publish', moved)).toBe(moved);
  });
});

describe('the clients Herald makes', () => {
  /** The class a node-redis client was made from: its proxy's prototype is the instance, whose prototype is the class's. */
  const classOf = (client: object) => Object.getPrototypeOf(Object.getPrototypeOf(client)) as object;
  const options = { connectTimeoutMs: 1000, reconnectStrategy: false as const };

  it('come from one class per kind whatever their options, made in any order', () => {
    // node-redis rebuilds a client class (every command a method; tens of ms of blocked event
    // loop) whenever createClient's options differ from the last call's: at every sentinel asked
    // and every Sentinel failover. Each kind is built once instead.
    const primary = createRedisClient('redis://127.0.0.1:7001', options);
    const sentinel = createPlainRedisClient({ password: 'secret', socket: { host: '127.0.0.1', port: 26379, reconnectStrategy: false } });
    const promoted = createRedisClient('redis://:other@127.0.0.1:7002', { connectTimeoutMs: 5000, reconnectStrategy: () => 100 });
    const otherSentinel = createPlainRedisClient({ socket: { host: '127.0.0.1', port: 26380 } });
    expect(classOf(promoted)).toBe(classOf(primary));
    expect(classOf(otherSentinel)).toBe(classOf(sentinel));
    // Each with what its kind runs: the scripts on the servers' clients only.
    expect(typeof (primary as unknown as Record<string, unknown>).heraldPublish).toBe('function');
    expect((sentinel as unknown as Record<string, unknown>).heraldPublish).toBeUndefined();
    for (const client of [primary, sentinel, promoted, otherSentinel]) client.destroy();
  });

  it('make every cluster client from one class, whatever its seeds (a replacement starts from other nodes)', () => {
    const options = { commandTimeoutMs: 1000, reconnectStrategy: () => 100 };
    const first = createHeraldCluster(['redis://127.0.0.1:7001'], options);
    const standalone = createRedisClient('redis://127.0.0.1:7009', { connectTimeoutMs: 1000, reconnectStrategy: false });
    const replacement = createHeraldCluster(['redis://:secret@127.0.0.1:7002'], options, [{ host: '127.0.0.1', port: 7003 }]);
    expect(classOf(replacement)).toBe(classOf(first));
    expect(typeof (replacement as unknown as Record<string, unknown>).heraldPublish).toBe('function');
    standalone.destroy();
  });
});

describe('destroyClient', () => {
  it('closes a client destroyed while its socket is still connecting, whose server never answers', async () => {
    // A frozen sentinel: the kernel takes the connection, nothing ever answers the handshake.
    const open = new Set<Socket>();
    const server = createServer((socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const client = createPlainRedisClient({ password: 'secret', socket: { host: '127.0.0.1', port, connectTimeout: 600_000, reconnectStrategy: false } });
      client.on('error', () => undefined);
      const connecting = client.connect().catch(() => 'dropped');
      // Before its TCP connect is done: node-redis alone closed nothing here, and the socket it
      // opened next stayed open with its handshake waiting.
      destroyClient(client);
      await expect(connecting).resolves.toBe('dropped');
      await eventually(() => expect(open.size).toBe(0));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
