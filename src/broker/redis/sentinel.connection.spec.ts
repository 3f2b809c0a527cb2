import { SentinelRedisConnection } from './sentinel.connection';

/** Each look at the sentinels waits until the test answers it (a look in flight during a failover). */
const looks: Array<(primary: string) => void> = [];
/** Each primary a StandaloneRedisConnection was built for, in order. */
const connectedTo: string[] = [];
/** The `+switch-master` listener the connection gave its switch watch. */
let announce: (primary: string) => void = () => undefined;

jest.mock('./sentinel.primary-lookup', () => ({
  SentinelPrimaryLookup: class {
    resolve = () => new Promise<string>((resolve) => looks.push(resolve));
    saysPrimary = async () => true;
    close = () => undefined;
  },
}));

jest.mock('./sentinel-switch.watch', () => ({
  SentinelSwitchWatch: class {
    constructor(_access: unknown, _retryMs: number, connection: { announced(primary: string): void }) {
      announce = (primary) => connection.announced(primary);
    }
    watch = () => undefined;
    close = () => undefined;
  },
}));

jest.mock('./standalone.connection', () => ({
  StandaloneRedisConnection: class {
    available = true;
    health = { shards: [{ shard: '', up: true }], failovers: 0 };
    constructor(options: { url: string }) {
      connectedTo.push(new URL(options.url).host);
    }
    connect = async () => undefined;
    close = async () => undefined;
    onMessage = () => undefined;
    onAvailabilityChange = () => undefined;
    onResync = () => undefined;
    onResynced = () => undefined;
  },
}));

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SentinelRedisConnection', () => {
  it('does not follow a look at the sentinels begun before it moved to the primary a +switch-master named (the old primary, awake, still says master)', async () => {
    const connection = new SentinelRedisConnection({ sentinels: [{ host: '127.0.0.1', port: 26379 }], masterName: 'main', commandTimeoutMs: 1000, resolveIntervalMs: 60_000 });
    const starting = connection.connect();
    await settle();
    looks.shift()!('127.0.0.1:7000');
    await starting;
    try {
      // A look in flight (the periodic one, or one while the primary did not answer)...
      (connection as unknown as { checkPrimary(now: boolean): void }).checkPrimary(true);
      expect(looks).toHaveLength(1);
      // ...meanwhile the failover ends and a sentinel announces the new primary, which is followed.
      announce('127.0.0.1:7001');
      await settle();
      await settle();
      expect(connectedTo).toEqual(['127.0.0.1:7000', '127.0.0.1:7001']);
      // The look answers with the votes it had: the old primary. The pod stays where it moved.
      looks.shift()!('127.0.0.1:7000');
      await settle();
      await settle();
      expect(connectedTo).toEqual(['127.0.0.1:7000', '127.0.0.1:7001']);
      expect(connection.health.shards[0].shard).toBe('127.0.0.1:7001');
      // A look begun after the move is followed, wherever it leads.
      (connection as unknown as { checkPrimary(now: boolean): void }).checkPrimary(true);
      looks.shift()!('127.0.0.1:7002');
      await settle();
      await settle();
      expect(connectedTo).toEqual(['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002']);
    } finally {
      await connection.close();
    }
  });
});
