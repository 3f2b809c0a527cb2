import { HeraldError, describe } from './herald.errors.ts';
import { timerDelayMs } from './timer.limit.ts';

/** What an app's getToken may be: a JWT, or a promise of one. */
export type GetToken = () => string | Promise<string>;

/**
 * The characters a token may carry: an RFC 7230 `token`, the grammar of a WebSocket subprotocol
 * (which carries it as `bearer.<JWT>`). Every JWT fits: base64url segments joined by dots.
 */
const TOKEN_PATTERN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export interface TokenRequest {
  /**
   * The option as the app wrote it, named in every failure: the clients' `getToken`, or
   * PublishClient's `token`.
   */
  option: 'getToken' | 'token';
  timeoutMs: number;
  /** The `event` of the HeraldError a failure rejects with. */
  event?: string;
  /** The client's close: aborting it ends the wait as `closed`. */
  signal?: AbortSignal;
}

/**
 * Asks getToken for a token, with the same rules wherever the SDK needs one (connecting, the
 * in-band refresh, the inbox, publishing): at most `timeoutMs` to answer, surrounding white
 * space trimmed (`fetch(...).then((r) => r.text())` often ends in a newline), and anything that
 * cannot be a JWT refused. Every failure is a HeraldError naming `option`: code `token`, or
 * `closed` when `signal` aborts the wait; the token itself never appears in a message.
 */
export async function requestToken(getToken: GetToken, { option, timeoutMs, event, signal }: TokenRequest): Promise<string> {
  const tooSlow = new HeraldError('token', `${option} did not answer within ${timeoutMs} ms`, event);
  const abandoned = new HeraldError('closed', `the client was closed while ${option} was pending`, event);
  if (signal?.aborted) throw abandoned;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  let answer: unknown;
  try {
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(tooSlow), timerDelayMs(timeoutMs));
      // A getToken that never answers must not keep the timer (and a Node process) alive after close().
      onAbort = () => reject(abandoned);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // Called inside the try: a getToken that throws synchronously fails like one that rejects.
    answer = await Promise.race([Promise.resolve().then(getToken), timedOut]);
  } catch (error) {
    if (error === tooSlow || error === abandoned) throw error;
    throw new HeraldError('token', `${option} failed: ${describe(error)}`, event, { cause: error });
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
  if (typeof answer !== 'string') {
    throw new HeraldError('token', `${option} returned ${answer === null ? 'null' : typeof answer} instead of a JWT string`, event);
  }
  const token = answer.trim();
  if (token === '') throw new HeraldError('token', `${option} returned an empty token`, event);
  if (!TOKEN_PATTERN.test(token)) {
    throw new HeraldError('token', `${option} returned a string that cannot be a JWT (it holds spaces or characters outside base64url and dots)`, event);
  }
  return token;
}
