import { createServer, Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { HeraldConfig } from '../../config/herald.config';
import { MetricsService } from '../../metrics/metrics.service';
import { JoinProxy } from './join-proxy';
import { JoinProxyMetrics } from './join-proxy.metrics';

describe('JoinProxy', () => {
  let backend: Server;
  let answer: { status: number; body: string };

  beforeAll(async () => {
    backend = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => backend.close(() => resolve())));
  const proxyFor = (settings: { concurrency?: number; cacheSize?: number } = {}, server = backend) => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/join`;
    const config = { joinProxy: { url, secret: 'hooks-secret-0123456789', rooms: ['doc:*'], timeoutMs: 5000, concurrency: 4, cacheSize: 0, ...settings } } as unknown as HeraldConfig;
    return new JoinProxy(config, new JoinProxyMetrics(new MetricsService()));
  };
  const principal = { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null };

  // Two full collections of the test runner's heap: seconds each on a busy machine.
  it('keeps nothing per request once it is over (AbortSignal.any with the shutdown signal kept two WeakRefs per join for good)', async () => {
    const proxy = proxyFor();
    const heap = new Session();
    heap.connect();
    const nodeWeakRefs = async () => {
      // Collect until FinalizationRegistry callbacks had their turn (they drop what they hold).
      // One collection: in a test worker that ran other suites each takes seconds.
      for (let i = 0; i < 1; i++) {
        let registry: FinalizationRegistry<number> | undefined;
        const finalized = new Promise((resolve) => (registry = new FinalizationRegistry(resolve)).register({}, i));
        await heap.post('HeapProfiler.collectGarbage');
        await finalized;
        registry = undefined;
      }
      // Node's own WeakRefs (AbortSignal.any's among them) come from a copy of WeakRef whose
      // prototype chain ends in null, out of reach of queryObjects(WeakRef.prototype): find that
      // prototype through a signal AbortSignal.any has linked. Evaluated in the main realm, where Node makes them.
      const prototype = await heap.post('Runtime.evaluate', {
        expression: `(() => {
          const source = new AbortController().signal;
          AbortSignal.any([source]);
          const dependants = Object.getOwnPropertySymbols(source).find((symbol) => symbol.description === 'kDependantSignals');
          return Object.getPrototypeOf([...source[dependants]][0]);
        })()`,
      });
      const found = await heap.post('Runtime.queryObjects', { prototypeObjectId: prototype.result.objectId! });
      const count = await heap.post('Runtime.callFunctionOn', { objectId: found.objects.objectId!, functionDeclaration: 'function () { return this.length; }', returnByValue: true });
      return count.result.value as number;
    };
    try {
      answer = { status: 200, body: '{"allow": true}' };
      const joins = (from: number) => Promise.all(Array.from({ length: 100 }, (_, i) => proxy.authorize(principal, `doc:leak-${from + i}`)));
      // A first round opens the connections and makes whatever is made once.
      await joins(0);
      const before = await nodeWeakRefs();
      await joins(1000);
      await joins(2000);
      // 200 joins: 400 more (and as many registry cells) with the leak.
      expect((await nodeWeakRefs()) - before).toBeLessThan(40);
    } finally {
      heap.disconnect();
      proxy.onApplicationShutdown();
    }
  }, 120_000);

  it('opens at most JOIN_PROXY_CONCURRENCY connections to the backend, however many joins come', async () => {
    let open = 0;
    let mostOpen = 0;
    let opened = 0;
    const counting = createServer((request, response) => {
      request.resume();
      // A moment's work, so that requests overlap.
      request.on('end', () => setTimeout(() => response.writeHead(200, { 'content-type': 'application/json' }).end('{"allow": true}'), 2));
    });
    counting.on('connection', (socket) => {
      opened++;
      mostOpen = Math.max(mostOpen, ++open);
      socket.on('close', () => open--);
    });
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve));
    const proxy = proxyFor({ concurrency: 4 }, counting);
    try {
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => proxy.authorize(principal, `doc:conn-${round}-${i}`)));
      }
      // With fetch's own pool: 7 or 8 (a request freed its slot before its connection was back in the pool).
      expect(mostOpen).toBeLessThanOrEqual(4);
      // And they are kept: not one per join.
      expect(opened).toBeLessThan(100);
    } finally {
      proxy.onApplicationShutdown();
      counting.closeAllConnections();
      await new Promise<void>((resolve) => counting.close(() => resolve()));
    }
  });

  it('logs the first join of a run the proxy gives no decision, counts the rest, and closes every run with how many once it decides again', async () => {
    const proxy = proxyFor();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      answer = { status: 503, body: '' };
      for (const room of ['doc:1', 'doc:2', 'doc:3']) await expect(proxy.authorize(principal, room)).rejects.toMatchObject({ code: 'unavailable' });
      expect(warn).toHaveBeenCalledTimes(1);
      answer = { status: 200, body: '{"allow": true}' };
      await proxy.authorize(principal, 'doc:4');
      expect(warn.mock.calls.map(([entry]) => entry)).toEqual([
        expect.objectContaining({ message: 'Join proxy gave no decision; later ones are counted until it decides again', room: 'doc:1', problem: 'HTTP 503' }),
        { message: 'Join proxy deciding again', joinsWithoutDecision: 3 },
      ]);
      // A new run is logged again, and closed even when one join long.
      answer = { status: 503, body: '' };
      await expect(proxy.authorize(principal, 'doc:5')).rejects.toMatchObject({ code: 'unavailable' });
      expect(warn).toHaveBeenCalledTimes(3);
      answer = { status: 200, body: '{"allow": false}' };
      await expect(proxy.authorize(principal, 'doc:6')).rejects.toMatchObject({ code: 'forbidden' });
      expect(warn.mock.calls.slice(2).map(([entry]) => entry)).toEqual([
        expect.objectContaining({ message: 'Join proxy gave no decision; later ones are counted until it decides again', room: 'doc:5', problem: 'HTTP 503' }),
        { message: 'Join proxy deciding again', joinsWithoutDecision: 1 },
      ]);
    } finally {
      warn.mockRestore();
      proxy.onApplicationShutdown();
    }
  });
});
