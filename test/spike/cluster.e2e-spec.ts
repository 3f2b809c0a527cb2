const log = (...a: unknown[]) => process.stderr.write(a.map((x) => typeof x === 'string' ? x : JSON.stringify(x)).join(' ') + '\n');
import { createClient, createCluster, defineScript } from 'redis';
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { startRedisCluster, RedisCluster } from '../support/redis-cluster';
import { eventually } from '../support/eventually';

const SCRIPT = defineScript({
  SCRIPT: `redis.call('INCR', KEYS[1]); redis.call('SPUBLISH', ARGV[1], ARGV[2]); return redis.call('GET', KEYS[1])`,
  NUMBER_OF_KEYS: 1,
  parseCommand(parser: any, key: string, channel: string, message: string) { parser.pushKey(key); parser.push(channel, message); },
  transformReply: (reply: any) => reply,
});
const NUMSUB = defineScript({
  SCRIPT: `return redis.call('PUBSUB', 'SHARDNUMSUB', ARGV[1])`,
  NUMBER_OF_KEYS: 1,
  parseCommand(parser: any, key: string, channel: string) { parser.pushKey(key); parser.push(channel); },
  transformReply: (reply: any) => reply,
});

describe('spike', () => {
  let cluster: RedisCluster;
  beforeAll(async () => { const t = Date.now(); cluster = await startRedisCluster({ password: 'secret-pass' }); log('cluster up in', Date.now() - t); }, 60000);
  afterAll(async () => { await cluster?.stop(); });
  it('works', async () => {
    const url = new URL(cluster.seeds.split(',')[0]);
    const client = createCluster({ rootNodes: cluster.seeds.split(',').map((u) => ({ url: u })), defaults: { password: 'secret-pass', scripts: { s: SCRIPT, n: NUMSUB } } as any, scripts: { s: SCRIPT, n: NUMSUB } } as any);
    client.on('error', (e: any) => log('cluster error', e.message));
    await client.connect();
    const got: string[] = [];
    const rooms = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const r of rooms) await client.sSubscribe(`h:{${r}}:ch`, (m: string, ch: string) => got.push(`${ch}=${m}`));
    log('masters', client.masters.map((m: any) => m.address), 'slots', rooms.map((r) => [r, calculateSlot(`{${r}}`), client.slots[calculateSlot(`{${r}}`)].master.address]));
    for (const r of rooms) log(await (client as any).s(`h:{${r}}:k`, `h:{${r}}:ch`, 'm1'));
    log('numsub', await (client as any).n(`h:{a}:k`, `h:{a}:ch`));
    await eventually(() => expect(got.length).toBe(6));
    // WAIT on the same node
    const master = client.slots[calculateSlot('{a}')].master;
    const nodeClient: any = await client.nodeClient(master);
    log('node client has script', typeof nodeClient.s);
    const w = await nodeClient.sendCommand(['WAIT', '1', '1000']);
    log('wait', w);
    // cross-slot script
    try { await (client as any).s(`h:{a}:k`, `h:{b}:ch`, 'x'); } catch (e: any) { log('cross slot spublish', e.message); }
    // classic PUBLISH count
    // kill primary of {a}
    const primary = await cluster.primaryOf(calculateSlot('{a}'));
    const t0 = Date.now();
    await primary.kill();
    const errors: string[] = [];
    let acked = 0;
    await eventually(async () => {
      try { await (client as any).s(`h:{a}:k`, `h:{a}:ch`, `after${acked}`); acked++; } catch (e: any) { errors.push(e.message); throw e; }
    }, 20000, 100);
    log('publish ok after', Date.now() - t0, 'errors', [...new Set(errors)].slice(0, 5));
    for (let i = 0; i < 3; i++) await (client as any).s(`h:{a}:k`, `h:{a}:ch`, `post${i}`);
    try { await eventually(() => expect(got.filter((g) => g.includes('post')).length).toBe(3), 10000); log('resubscribed OK', Date.now() - t0); } catch { log('NOT resubscribed; got', got); }
    await cluster.waitHealthy();
    log('healthy after', Date.now() - t0);
    await client.close();
  }, 60000);
});
