import { getEventListeners } from 'node:events';
import { describeHookError, redactedHookUrl, requestDeadline } from './hook-request';

describe('hook errors as logged', () => {
  it('keep a URL\'s scheme, host and path, never its credentials or query', () => {
    expect(redactedHookUrl('https://hook:s3cret@backend.example:8443/herald/webhooks?key=Q5ECRET#x')).toBe('https://backend.example:8443/herald/webhooks');
    expect(redactedHookUrl('redis://:pa55@127.0.0.1:6379/0')).toBe('redis://127.0.0.1:6379/0');
    expect(redactedHookUrl('not a url')).toBe('(unparseable URL)');
  });

  it('redact every URL an error or its causes quote', () => {
    const url = 'http://joinuser:JPASSX@127.0.0.1:4101/join?key=JQSECRETX';
    const failure = new TypeError(`Request cannot be constructed from a URL that includes credentials: ${url}`);
    const wrapped = new Error('fetch failed', { cause: new Error(`connect ECONNREFUSED while calling '${url}'`) });
    const many = new AggregateError([failure, 'plain text with https://u:p@h.example/?token=T0KEN'], 'two failures');
    for (const error of [failure, wrapped, many, url]) {
      const text = describeHookError(error);
      expect(text).not.toMatch(/JPASSX|JQSECRETX|joinuser|T0KEN|u:p@/);
    }
    expect(describeHookError(failure)).toBe('Request cannot be constructed from a URL that includes credentials: http://127.0.0.1:4101/join');
    expect(describeHookError(wrapped)).toBe("fetch failed: connect ECONNREFUSED while calling 'http://127.0.0.1:4101/join'");
  });

  it('name an error that has no message by its class', () => {
    class TimeoutError extends Error {}
    expect(describeHookError(new TimeoutError())).toBe('TimeoutError');
  });
});

describe('requestDeadline', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('aborts with a TimeoutError once its time is up', () => {
    const deadline = requestDeadline(new AbortController().signal, 10);
    jest.advanceTimersByTime(9);
    expect(deadline.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(deadline.signal.reason).toMatchObject({ name: 'TimeoutError' });
    deadline.end();
  });

  it('aborts with the reason of the signal it stops with, at once or later', () => {
    const stop = new AbortController();
    const deadline = requestDeadline(stop.signal, 60_000);
    stop.abort(new Error('shutting down'));
    expect(deadline.signal.reason).toEqual(new Error('shutting down'));
    deadline.end();
    expect(requestDeadline(stop.signal, 60_000).signal.reason).toEqual(new Error('shutting down'));
  });

  it('leaves nothing on the signal it stops with once ended, and no longer aborts', () => {
    const stop = new AbortController();
    const deadlines = Array.from({ length: 3 }, () => requestDeadline(stop.signal, 10));
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(3);
    for (const deadline of deadlines) deadline.end();
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
    stop.abort();
    jest.advanceTimersByTime(10);
    expect(deadlines.map((deadline) => deadline.signal.aborted)).toEqual([false, false, false]);
  });
});
