const log = (...a: unknown[]) => process.stderr.write(a.map((x) => typeof x === 'string' ? x : JSON.stringify(x)).join(' ') + '\n');
import { createClient, createSentinel } from 'redis';
import { startRedisSentinels, RedisSentinelSet } from '../support/redis-sentinel';
import { eventually } from '../support/eventually';

describe('spike sentinel', () => {
  let set: RedisSentinelSet;
  beforeAll(async () => { const t = Date.now(); set = await startRedisSentinels({ password: 'pw-data' }); log('sentinel up in', Date.now() - t); }, 60000);
  afterAll(async () => { await set?.stop(); });
  it('works', async () => {
    const s = createSentinel({ name: set.masterName, sentinelRootNodes: set.sentinels.split(',').map((e) => ({ host: '127.0.0.1', port: Number(e.split(':')[1]) })), nodeClientOptions: { password: 'pw-data' } } as any);
    s.on('error', (e: any) => log('sentinel err', e.message));
    await s.connect();
    await s.set('k', '1');
    const got: string[] = [];
    await s.subscribe('ch', (m: string) => got.push(m));
    await s.publish('ch', 'hello');
    await eventually(() => expect(got).toEqual(['hello']));
    log('wait', await s.sendCommand(['WAIT', '1', '500']));
    const primary = await set.primary();
    const t0 = Date.now();
    await primary.kill();
    let n = 0; const errs = new Set<string>();
    await eventually(async () => { try { await s.set('k', String(n++)); } catch (e: any) { errs.add(e.message); throw e; } }, 30000, 100);
    log('write ok after', Date.now() - t0, [...errs]);
    await s.publish('ch', 'after');
    try { await eventually(() => expect(got).toContain('after'), 10000); log('pubsub resumed', Date.now() - t0); } catch { log('pubsub NOT resumed', got); }
    await s.close();
  }, 60000);
});
