import { jest } from '@jest/globals';
import { HeraldAuthError, HeraldHttpError, HeraldNetworkError, HeraldValidationError } from './herald.errors.ts';
import { PublishClient } from './publish.client.ts';

type Answer = { status: number; body?: unknown } | Error;

/** A fetch that plays the given answers in order and records every request. */
function fakeFetch(answers: Answer[]) {
  const requests: Array<{ url: string; headers: Record<string, string>; body: any }> = [];
  const fetch = jest.fn(async (url: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(url), headers: init!.headers as Record<string, string>, body: JSON.parse(init!.body as string) });
    const answer = answers.shift();
    if (!answer) throw new Error('unexpected request');
    if (answer instanceof Error) throw answer;
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), { status: answer.status });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, requests };
}

function publisher(fetch: typeof globalThis.fetch, maxRetries = 3): PublishClient {
  return new PublishClient({
    baseUrl: 'http://herald.test:3000',
    token: 'service-token',
    fetch,
    maxRetries,
    retryBackoff: { initialDelayMs: 1, maxDelayMs: 2 },
    generateId: () => 'generated-id',
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
});
