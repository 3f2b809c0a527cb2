import { jest } from '@jest/globals';
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
    expect(requests).toHaveLength(1);
  });

  it('rejects a failing token function with a HeraldError of code token, without a request or a retry', async () => {
    const { fetch, requests } = fakeFetch([]);
    const failure = publisher(fetch, 3, { token: () => Promise.reject(new Error('vault sealed')) }).publish(notification);
    await expect(failure).rejects.toBeInstanceOf(HeraldError);
    await expect(failure).rejects.toMatchObject({ code: 'token', event: 'publish', message: 'getToken failed: vault sealed' });
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
    async function retryTimes(answers: Answer[], retryBackoff = { initialDelayMs: 1, maxDelayMs: 10_000 }): Promise<number[]> {
      const times: number[] = [];
      const { fetch } = fakeFetch(answers);
      const timed = (async (url, init) => {
        times.push(Date.now());
        return fetch(url, init);
      }) as typeof globalThis.fetch;
      const published = publisher(timed, 3, { retryBackoff, random: () => 0 }).publish(notification);
      await jest.advanceTimersByTimeAsync(20_000);
      await published;
      return times.map((time) => time - times[0]);
    }
    const accepted = { status: 202, body: { id: 'generated-id', targets: 1 } };

    it('waits the seconds of a 429 or 503 before retrying', async () => {
      await expect(retryTimes([{ status: 429, headers: { 'retry-after': '3' } }, { status: 503, headers: { 'retry-after': '2' } }, accepted])).resolves.toEqual([0, 3_000, 5_000]);
    });

    it('waits until the HTTP date of a Retry-After', async () => {
      const at = new Date(Date.now() + 4_000).toUTCString();
      await expect(retryTimes([{ status: 503, headers: { 'retry-after': at } }, accepted])).resolves.toEqual([0, 4_000]);
    });

    it('waits no longer than retryBackoff.maxDelayMs, whatever Retry-After asks', async () => {
      await expect(retryTimes([{ status: 429, headers: { 'retry-after': '3600' } }, accepted], { initialDelayMs: 1, maxDelayMs: 5_000 })).resolves.toEqual([0, 5_000]);
    });
  });
});
