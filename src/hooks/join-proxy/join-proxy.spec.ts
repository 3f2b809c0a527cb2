import { createServer, Server } from 'node:http';
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

  it('logs the first join of a run the proxy gives no decision, counts the rest, and says how many once it decides again', async () => {
    const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/join`;
    const config = { joinProxy: { url, secret: 'hooks-secret-0123456789', rooms: ['doc:*'], timeoutMs: 5000, concurrency: 4, cacheSize: 0 } } as unknown as HeraldConfig;
    const proxy = new JoinProxy(config, new JoinProxyMetrics(new MetricsService()));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const principal = { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null };
      answer = { status: 503, body: '' };
      for (const room of ['doc:1', 'doc:2', 'doc:3']) await expect(proxy.authorize(principal, room)).rejects.toMatchObject({ code: 'unavailable' });
      expect(warn).toHaveBeenCalledTimes(1);
      answer = { status: 200, body: '{"allow": true}' };
      await proxy.authorize(principal, 'doc:4');
      expect(warn.mock.calls.map(([entry]) => entry)).toEqual([
        expect.objectContaining({ message: 'Join proxy gave no decision; later ones are counted until it decides again', room: 'doc:1', problem: 'HTTP 503' }),
        { message: 'Join proxy deciding again', joinsWithoutDecision: 3 },
      ]);
      // A new run is logged again.
      answer = { status: 503, body: '' };
      await expect(proxy.authorize(principal, 'doc:5')).rejects.toMatchObject({ code: 'unavailable' });
      expect(warn).toHaveBeenCalledTimes(3);
    } finally {
      warn.mockRestore();
      proxy.onApplicationShutdown();
    }
  });
});
