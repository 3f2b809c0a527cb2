import { describeHookError, redactedHookUrl } from './hook-request';

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
