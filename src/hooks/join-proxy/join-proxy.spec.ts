import { getEventListeners } from 'node:events';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { HeraldConfig } from '../../config/herald.config';
import { MetricsService } from '../../metrics/metrics.service';
import { JoinProxy } from './join-proxy';
import { JoinProxyMetrics } from './join-proxy.metrics';
import { eventually } from '../../../test/support/eventually';

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

  // What the leak kept is read straight off the pod-long shutdown signal, not by a census of the
  // heap (a full collection and a heap walk took up to 15 s in a test worker that had run other
  // suites). Node (24) never empties a source signal's set of dependants: the WeakRefs
  // AbortSignal.any adds there stay after any number of collections, so no collection is needed.
  it('keeps nothing per request once it is over (AbortSignal.any with the shutdown signal kept two WeakRefs per join for good)', async () => {
    const proxy = proxyFor();
    const internals = proxy as unknown as { shutdown: AbortController; asking: Map<string, unknown>; slots: { queued: number } };
    const stop = internals.shutdown.signal;
    const dependantsSymbol = (signal: AbortSignal) => Object.getOwnPropertySymbols(signal).find((candidate) => candidate.description === 'kDependantSignals');
    // Node still keeps them under that name (else this test would see none, leak or not).
    const probe = new AbortController().signal;
    AbortSignal.any([probe]);
    expect(dependantsSymbol(probe)).toBeDefined();
    const dependants = () => {
      const symbol = dependantsSymbol(stop);
      return symbol === undefined ? 0 : (stop as unknown as Record<symbol, Set<unknown>>)[symbol].size;
    };
    try {
      answer = { status: 200, body: '{"allow": true}' };
      // More joins than slots, so some wait for one (with a listener on their signal) too.
      await Promise.all(Array.from({ length: 200 }, (_, i) => proxy.authorize(principal, `doc:leak-${i}`)));
      // With AbortSignal.any([shutdown, AbortSignal.timeout(...)]): 200 dependants, for good.
      expect(dependants()).toBe(0);
      expect(getEventListeners(stop, 'abort')).toHaveLength(0);
      expect(internals.asking.size).toBe(0);
      expect(internals.slots.queued).toBe(0);
    } finally {
      proxy.onApplicationShutdown();
    }
  });

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

  it('answers joins still waiting when the pod stops unavailable, without taking it for a backend failure (no warning, no error counted)', async () => {
    const silent = createServer((request) => request.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const metrics = new JoinProxyMetrics(new MetricsService());
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/join`;
    const proxy = new JoinProxy({ joinProxy: { url, secret: 'hooks-secret-0123456789', rooms: ['doc:*'], timeoutMs: 5000, concurrency: 1, cacheSize: 0 } } as unknown as HeraldConfig, metrics);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let asked = 0;
    silent.on('request', () => asked++);
    try {
      // One sent and left unanswered, one waiting for its slot.
      const joins = ['doc:sent', 'doc:waiting'].map((room) => proxy.authorize(principal, room));
      await eventually(() => expect(asked).toBe(1));
      proxy.onApplicationShutdown();
      for (const join of joins) await expect(join).rejects.toMatchObject({ code: 'unavailable' });
      // A join after the stop too.
      await expect(proxy.authorize(principal, 'doc:late')).rejects.toMatchObject({ code: 'unavailable' });
      expect(warn).not.toHaveBeenCalled();
      const answers = (await metrics.answers.get()).values.reduce((sum, { value }) => sum + value, 0);
      expect(answers).toBe(0);
    } finally {
      warn.mockRestore();
      proxy.onApplicationShutdown();
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
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
