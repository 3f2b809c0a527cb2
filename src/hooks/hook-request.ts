import { describeError } from '../broker/redis/redis.client';

/** A request's own abort signal: see `requestDeadline`. */
export interface RequestDeadline {
  readonly signal: AbortSignal;
  /** Stops the timer and leaves `stop`: call it once the request is over, however it ended. */
  end(): void;
}

/**
 * A signal that aborts after `timeoutMs` with a TimeoutError (as AbortSignal.timeout's) or when
 * `stop` aborts, with its reason.
 *
 * Why not `AbortSignal.any([stop, AbortSignal.timeout(ms)])`: Node registers the composed signal
 * with each source in a FinalizationRegistry until that source is collected, and `stop` (the
 * pod's shutdown) lives as long as the pod: about 180 bytes per request (two WeakRefs, a registry
 * cell) stayed for good, 8,000 WeakRefs per 4,000 proxied joins. Here the only link to `stop` is
 * a listener that `end` removes.
 */
export function requestDeadline(stop: AbortSignal, timeoutMs: number): RequestDeadline {
  const controller = new AbortController();
  const onStop = () => controller.abort(stop.reason);
  const timer = setTimeout(() => controller.abort(timeoutError()), timeoutMs);
  // As AbortSignal.timeout's: a pending request does not keep the process alive.
  timer.unref();
  if (stop.aborted) controller.abort(stop.reason);
  else stop.addEventListener('abort', onStop, { once: true });
  return {
    signal: controller.signal,
    end: () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    },
  };
}

/** The error a request that ran out of time fails with: AbortSignal.timeout's, told apart by its name. */
export function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/** A rough outcome label for metrics: `2xx`, `4xx`, `5xx`, ... */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/**
 * A URL as it may be logged: scheme, host and path, without credentials or query (a backend
 * may take a token in the query; a Redis URL carries its password).
 */
export function redactedHookUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // Not `origin`: it is "null" for schemes such as redis://.
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)'; // never echo what could hold a password
  }
}

/** Anything that looks like a URL inside a text, up to whitespace or a quote. */
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s'"`<>]+/gi;

/**
 * An error as one line for logs (describeError, causes included), every URL in it redacted as
 * `redactedHookUrl` does: a request error may quote the URL it was given (fetch's did: "Request
 * cannot be constructed from a URL that includes credentials: <url>"), and a hook error is logged
 * on every failed attempt.
 */
export function describeHookError(error: unknown): string {
  return describeError(error).replace(URL_IN_TEXT, redactedHookUrl);
}
