import { jest } from '@jest/globals';
import { requestToken, type GetToken, type TokenRequest } from './token.request.ts';

type Option = TokenRequest['option'];

interface Failure {
  way: string;
  getToken: GetToken;
  /** Run before asking (`before`) or once it waits (`after`), with the client's close. */
  before?: (closing: AbortController) => void;
  after?: (closing: AbortController) => void;
  code: 'token' | 'closed';
  message: (option: Option) => string;
}

const never = () => new Promise<string>(() => undefined);

const failures: Failure[] = [
  { way: 'a getToken that rejects', getToken: () => Promise.reject(new Error('signed out')), code: 'token', message: (option) => `${option} failed: signed out` },
  {
    way: 'a getToken that throws',
    getToken: () => {
      throw new Error('signed out');
    },
    code: 'token',
    message: (option) => `${option} failed: signed out`,
  },
  { way: 'an answer that is no string', getToken: () => null as unknown as string, code: 'token', message: (option) => `${option} returned null instead of a JWT string` },
  { way: 'an empty answer', getToken: () => ' \n', code: 'token', message: (option) => `${option} returned an empty token` },
  {
    way: 'an answer that cannot be a JWT',
    getToken: () => 'not a token',
    code: 'token',
    message: (option) => `${option} returned a string that cannot be a JWT (it holds spaces or characters outside base64url and dots)`,
  },
  { way: 'no answer within timeoutMs', getToken: never, after: () => jest.advanceTimersByTime(20), code: 'token', message: (option) => `${option} did not answer within 20 ms` },
  { way: 'a close while it waits', getToken: never, after: (closing) => closing.abort(), code: 'closed', message: (option) => `the client was closed while ${option} was pending` },
  { way: 'a close before it asks', getToken: never, before: (closing) => closing.abort(), code: 'closed', message: (option) => `the client was closed while ${option} was pending` },
];

describe('requestToken', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  describe.each<Option>(['getToken', 'token'])("for a caller whose app's option is %s", (option) => {
    it.each(failures)('names that option in the failure for $way', async ({ getToken, before, after, code, message }) => {
      const closing = new AbortController();
      before?.(closing);
      const failure = requestToken(getToken, { option, timeoutMs: 20, event: 'inbox.list', signal: closing.signal }).catch((error: unknown) => error);
      await Promise.resolve();
      after?.(closing);
      expect(await failure).toMatchObject({ name: 'HeraldError', code, event: 'inbox.list', message: message(option) });
    });
  });
});
