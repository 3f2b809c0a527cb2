import { jest } from '@jest/globals';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { HeraldAuthError, HeraldError, HeraldHttpError, HeraldNetworkError, HeraldValidationError } from './herald.errors.ts';
import { PublishClient, type PublishClientOptions } from './publish.client.ts';

type Answer = { status: number; body?: unknown; raw?: string; headers?: Record<string, string> } | Error;

/** A fetch that plays the given answers in order and records every request. */
function fakeFetch(answers: Answer[]) {
  const requests: Array<{ url: string; headers: Record<string, string>; body: any }> = [];
  const fetch = jest.fn(async (url: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(url), headers: init!.headers as Record<string, string>, body: JSON.parse(init!.body as string) });
    const answer = answers.shift();
    if (!answer) throw new Error('unexpected request');
    if (answer instanceof Error) throw answer;
    return new Response(answer.raw ?? (answer.body === undefined ? null : JSON.stringify(answer.body)), { status: answer.status, headers: answer.headers });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, requests };
}

function publisher(fetch: typeof globalThis.fetch, maxRetries = 3, options: Partial<PublishClientOptions> = {}): PublishClient {
  return new PublishClient({
    baseUrl: 'http://herald.test:3000',
    token: 'service-token',
    fetch,
    maxRetries,
    retryBackoff: { initialDelayMs: 1, maxDelayMs: 2 },
    generateId: () => 'generated-id',
    ...options,
  });
}

const notification = { users: ['bob'], type: 'order.shipped', payload: { title: 'Shipped' } };

describe('PublishClient', () => {
  it('posts the notification with a generated id and the bearer token', async () => {
    const { fetch, requests } = fakeFetch([{ status: 202, body: { id: 'generated-id', targets: 1 } }]);
    await expect(publisher(fetch).publish(notification)).resolves.toEqual({ id: 'generated-id', targets: 1 });
    expect(requests).toEqual([
      {
        url: 'http://herald.test:3000/v1/notifications',
        headers: { 'content-type': 'application/json', authorization: 'Bearer service-token' },
        body: { ...notification, id: 'generated-id' },
      },
    ]);
  });

  it('retries network errors and 5xx with the same id, so the server delivers it once', async () => {
    const { fetch, requests } = fakeFetch([
      new TypeError('fetch failed'),
      { status: 503, body: { statusCode: 503, message: 'broker unavailable' } },
      { status: 202, body: { id: 'generated-id', targets: 1 } },
    ]);
    await expect(publisher(fetch).publish(notification)).resolves.toMatchObject({ id: 'generated-id' });
    expect(requests.map((request) => request.body.id)).toEqual(['generated-id', 'generated-id', 'generated-id']);
  });

  it('keeps an id the caller chose', async () => {
    const { fetch, requests } = fakeFetch([{ status: 202, body: { id: 'mine', targets: 1 } }]);
    await publisher(fetch).publish({ ...notification, id: 'mine' });
    expect(requests[0].body.id).toBe('mine');
  });

  it.each([
    [400, HeraldValidationError],
    [413, HeraldValidationError],
    [401, HeraldAuthError],
    [403, HeraldAuthError],
    [404, HeraldHttpError],
  ])('fails at once with a typed error on %i', async (status, type) => {
    const { fetch, requests } = fakeFetch([{ status, body: { statusCode: status, message: ['type must be a string'] } }]);
    const failure = publisher(fetch).publish(notification);
    await expect(failure).rejects.toBeInstanceOf(type);
    await expect(failure).rejects.toMatchObject({ status, message: `HTTP ${status}: type must be a string` });
    expect(requests).toHaveLength(1);
  });

  it('retries a 408 with the same id', async () => {
    const { fetch, requests } = fakeFetch([{ status: 408, body: { statusCode: 408, message: 'Request Timeout' } }, { status: 202, body: { id: 'generated-id', targets: 1 } }]);
    await expect(publisher(fetch).publish(notification)).resolves.toEqual({ id: 'generated-id', targets: 1 });
    expect(requests.map((request) => request.body.id)).toEqual(['generated-id', 'generated-id']);
  });

  it('gives up after maxRetries with the last failure', async () => {
    const { fetch, requests } = fakeFetch([new TypeError('refused'), new TypeError('refused'), new TypeError('refused')]);
    await expect(publisher(fetch, 2).publish(notification)).rejects.toBeInstanceOf(HeraldNetworkError);
    expect(requests).toHaveLength(3);
  });

  it('keeps a path prefix of baseUrl', async () => {
    const { fetch, requests } = fakeFetch([{ status: 202, body: { id: 'generated-id', targets: 1 } }]);
    await publisher(fetch, 0, { baseUrl: 'http://gateway.test/herald' }).publish(notification);
    expect(requests[0].url).toBe('http://gateway.test/herald/v1/notifications');
  });

  it.each([
    ['an empty body', ''],
    ['a body that is not JSON', '<html>ok</html>'],
    ['JSON that is no answer', '{}'],
  ])('rejects a 202 with %s as a HeraldNetworkError that says to publish again with the same id', async (_, raw) => {
    const { fetch, requests } = fakeFetch([{ status: 202, raw }]);
    const failure = publisher(fetch).publish(notification);
    await expect(failure).rejects.toBeInstanceOf(HeraldNetworkError);
    await expect(failure).rejects.toThrow(/may have been accepted.*same id \(generated-id\)/);
    await expect(failure).rejects.toMatchObject({ id: 'generated-id' });
    expect(requests).toHaveLength(1);
  });

  it('names the id the notification was sent with in a network failure, the caller\'s or the generated one', async () => {
    const { fetch } = fakeFetch([new TypeError('fetch failed'), new TypeError('fetch failed')]);
    const generated = publisher(fetch, 0).publish(notification);
    await expect(generated).rejects.toMatchObject({ name: 'HeraldNetworkError', id: 'generated-id' });
    await expect(generated).rejects.toThrow(/^publish failed: fetch failed \(notification id generated-id: .*publishing it again with this id delivers it once\)$/);
    await expect(publisher(fetch, 0).publish({ ...notification, id: 'mine' })).rejects.toMatchObject({ id: 'mine', message: expect.stringContaining('notification id mine') });
  });

  describe('against a real socket', () => {
    const servers: Server[] = [];
    const sockets: Socket[] = [];
    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.destroy();
      for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    });

    /** A server that accepts connections, reads what is sent and never answers. */
    async function silentServer(): Promise<{ url: string; received: () => string }> {
      let received = '';
      const server = createServer((socket) => {
        sockets.push(socket);
        socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received: () => received };
    }

    const real = (baseUrl: string) =>
      new PublishClient({ baseUrl, token: 'service-token', timeoutMs: 500, maxRetries: 1, retryBackoff: { initialDelayMs: 1, maxDelayMs: 2 } });

    it('carries the generated id of a publish that timed out, the one every attempt was sent with', async () => {
      const server = await silentServer();
      const error = await real(server.url).publish(notification).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(HeraldNetworkError);
      const { id, message } = error as HeraldNetworkError;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(message).toContain('timeout');
      expect(message).toContain(`notification id ${id}`);
      // Both attempts carried it.
      expect(server.received().split(`"id":"${id}"`)).toHaveLength(3);
    });
  });

  it('rejects a failing token function with a HeraldError of code token naming the token option, without a request or a retry', async () => {
    const { fetch, requests } = fakeFetch([]);
    const token = jest.fn(() => Promise.reject(new Error('vault sealed')));
    const failure = publisher(fetch, 3, { token }).publish(notification);
    await expect(failure).rejects.toBeInstanceOf(HeraldError);
    await expect(failure).rejects.toMatchObject({ code: 'token', event: 'publish', message: 'token failed: vault sealed' });
    expect(requests).toHaveLength(0);
    // A retry would ask the token function again: no request is sent either way.
    expect(token).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['a token function that answers no string', { token: () => null as unknown as string }, 'token returned null instead of a JWT string'],
    ['an empty token', { token: ' \n' }, 'token returned an empty token'],
    ['a token that cannot be a JWT', { token: 'not a token' }, 'token returned a string that cannot be a JWT (it holds spaces or characters outside base64url and dots)'],
    ['a token function slower than timeoutMs', { token: () => new Promise<string>(() => undefined), timeoutMs: 20 }, 'token did not answer within 20 ms'],
  ])('names the token option for %s', async (_, options, message) => {
    const { fetch, requests } = fakeFetch([]);
    await expect(publisher(fetch, 3, options).publish(notification)).rejects.toMatchObject({ code: 'token', message });
    expect(requests).toHaveLength(0);
  });

  it('trims the newline a token file ends with', async () => {
    const { fetch, requests } = fakeFetch([{ status: 202, body: { id: 'generated-id', targets: 1 } }]);
    await publisher(fetch, 0, { token: 'service-token\n' }).publish(notification);
    expect(requests[0].headers.authorization).toBe('Bearer service-token');
  });

  describe('Retry-After', () => {
    beforeEach(() => jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') }));
    afterEach(() => jest.useRealTimers());

    /** When each request was made, in ms after the first. */
    async function retryTimes(answers: Answer[], retryBackoff = { initialDelayMs: 1, maxDelayMs: 10_000 }, random = () => 0): Promise<number[]> {
      const times: number[] = [];
      const { fetch } = fakeFetch(answers);
      const timed = (async (url, init) => {
        times.push(Date.now());
        return fetch(url, init);
      }) as typeof globalThis.fetch;
      const published = publisher(timed, 3, { retryBackoff, random }).publish(notification);
      await jest.advanceTimersByTimeAsync(20_000);
      await published;
      return times.map((time) => time - times[0]);
    }
    const accepted = { status: 202, body: { id: 'generated-id', targets: 1 } };

    it('waits the seconds of a 429 or 503 before retrying', async () => {
      await expect(retryTimes([{ status: 429, headers: { 'retry-after': '3' } }, { status: 503, headers: { 'retry-after': '2' } }, accepted])).resolves.toEqual([0, 3_000, 5_000]);
    });

    it('spreads publishers told the same Retry-After over half their random backoff on top of it', async () => {
      // Backoff: 0.99 x 1000 ms, floored; half of it goes after the 3 s asked.
      const backoff = { initialDelayMs: 1_000, maxDelayMs: 10_000 };
      await expect(retryTimes([{ status: 503, headers: { 'retry-after': '3' } }, accepted], backoff, () => 0.99)).resolves.toEqual([0, 3_495]);
      await expect(retryTimes([{ status: 503, headers: { 'retry-after': '3' } }, accepted], backoff, () => 0.5)).resolves.toEqual([0, 3_250]);
    });

    it('waits until the HTTP date of a Retry-After', async () => {
      const at = new Date(Date.now() + 4_000).toUTCString();
      await expect(retryTimes([{ status: 503, headers: { 'retry-after': at } }, accepted])).resolves.toEqual([0, 4_000]);
    });

    it('waits no longer than retryBackoff.maxDelayMs, whatever Retry-After asks', async () => {
      await expect(retryTimes([{ status: 429, headers: { 'retry-after': '3600' } }, accepted], { initialDelayMs: 1, maxDelayMs: 5_000 })).resolves.toEqual([0, 5_000]);
    });

    it('reads Retry-After only on a 429 or 503, and backs off as usual on other statuses', async () => {
      // random 0: the backoff waits its least, 1 ms.
      await expect(retryTimes([{ status: 500, headers: { 'retry-after': '3' } }, { status: 408, headers: { 'retry-after': '3' } }, accepted])).resolves.toEqual([0, 1, 2]);
    });

    it('waits the backoff when Retry-After asks for less', async () => {
      // random 0.5 of a 4 s ceiling: 2 s, more than the 1 s asked.
      await expect(retryTimes([{ status: 503, headers: { 'retry-after': '1' } }, accepted], { initialDelayMs: 4_000, maxDelayMs: 10_000 }, () => 0.5)).resolves.toEqual([0, 2_000]);
    });
  });
});
