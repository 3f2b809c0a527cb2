import { HeraldHttpError, HeraldNetworkError, httpErrorOf, retryDelayMs } from './herald.errors.ts';

describe('httpErrorOf', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const answer = (status: number, headers: Record<string, string> = {}) => new Response(JSON.stringify({ statusCode: status, message: 'busy' }), { status, headers });

  it('reads a 503 or 429 Retry-After in seconds or as an HTTP date', async () => {
    expect((await httpErrorOf(answer(503, { 'retry-after': '2' }), now)).retryAfterMs).toBe(2_000);
    expect((await httpErrorOf(answer(429, { 'retry-after': ' 7 ' }), now)).retryAfterMs).toBe(7_000);
    expect((await httpErrorOf(answer(503, { 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).retryAfterMs).toBe(3_000);
    expect((await httpErrorOf(answer(503, { 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }), now)).retryAfterMs).toBe(0);
  });

  it('leaves retryAfterMs undefined when there is none, it cannot be read, or the status does not carry one', async () => {
    expect((await httpErrorOf(answer(503), now)).retryAfterMs).toBeUndefined();
    expect((await httpErrorOf(answer(503, { 'retry-after': 'soon' }), now)).retryAfterMs).toBeUndefined();
    expect((await httpErrorOf(answer(503, { 'retry-after': '-1' }), now)).retryAfterMs).toBeUndefined();
    expect((await httpErrorOf(answer(503, { 'retry-after': '1.5' }), now)).retryAfterMs).toBeUndefined();
    expect((await httpErrorOf(answer(503, { 'retry-after': '2099' }), now)).retryAfterMs).toBe(2_099_000);
    expect((await httpErrorOf(answer(500, { 'retry-after': '2' }), now)).retryAfterMs).toBeUndefined();
  });

  it('keeps the status and the JSON body', async () => {
    const error = await httpErrorOf(answer(503, { 'retry-after': '2' }), now);
    expect(error).toBeInstanceOf(HeraldHttpError);
    expect(error.status).toBe(503);
    expect(error.message).toBe('HTTP 503: busy');
  });
});

describe('retryDelayMs', () => {
  const unavailable = (retryAfterMs?: number) => new HeraldHttpError(503, undefined, undefined, retryAfterMs);

  it('waits the backoff when the server asked for nothing, or for less', () => {
    expect(retryDelayMs(700, unavailable(), 16_000, 200)).toBe(700);
    expect(retryDelayMs(700, unavailable(300), 16_000, 200)).toBe(700);
    expect(retryDelayMs(700, new HeraldNetworkError('fetch failed'), 16_000, 200)).toBe(700);
  });

  it('waits what the server asked for, plus the spread, when that is longer than the backoff', () => {
    expect(retryDelayMs(700, unavailable(2_000), 16_000)).toBe(2_000);
    expect(retryDelayMs(700, unavailable(2_000), 16_000, 250)).toBe(2_250);
  });

  it('waits no longer than maxDelayMs plus the spread, whatever the server asked for', () => {
    expect(retryDelayMs(700, unavailable(3_600_000), 16_000, 250)).toBe(16_250);
  });
});
