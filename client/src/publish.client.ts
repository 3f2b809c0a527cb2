import { backoffDelayMs, type BackoffOptions } from './backoff.policy.ts';
import { HeraldNetworkError, describe, httpErrorOf, isObject, isRetryableStatus, retryDelayMs, type HeraldHttpError } from './herald.errors.ts';
import type { PublishRequest, PublishResponse } from './protocol.ts';
import { requestToken } from './token.request.ts';

export interface PublishClientOptions {
  /**
   * Herald's HTTP base URL, e.g. `http://herald:3000` (the internal port when INTERNAL_PORT is
   * set); a path prefix is kept (`http://gateway/herald` posts to `/herald/v1/notifications`).
   */
  baseUrl: string;
  /**
   * A JWT with scope `notifications:publish`, or a function returning one (called per attempt,
   * with timeoutMs to answer). Its failures are a HeraldError of code `token` naming `token`.
   */
  token: string | (() => string | Promise<string>);
  /** Retries after the first attempt, for network errors, 408, 429 and 5xx. */
  maxRetries?: number;
  retryBackoff?: Partial<BackoffOptions>;
  /** Per attempt. */
  timeoutMs?: number;
  /** Defaults to the global fetch (Node 20+, browsers). */
  fetch?: typeof fetch;
  /** Defaults to crypto.randomUUID(). */
  generateId?: () => string;
  /** For tests: a source of randomness in [0, 1). */
  random?: () => number;
}

const DEFAULT_RETRY_BACKOFF: BackoffOptions = { initialDelayMs: 200, maxDelayMs: 5_000, factor: 2 };
const PUBLISH_PATH = 'v1/notifications';

/**
 * Publishes notifications for internal services. Every notification gets an `id` before the
 * first attempt and keeps it through the retries, so the server delivers it once however many
 * attempts it took (contract, section 6).
 */
export class PublishClient {
  readonly #endpoint: string;
  readonly #getToken: () => string | Promise<string>;
  readonly #maxRetries: number;
  readonly #backoff: BackoffOptions;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #generateId: () => string;
  readonly #random: () => number;

  constructor(options: PublishClientOptions) {
    if (typeof (options.fetch ?? globalThis.fetch) !== 'function') throw new TypeError('PublishClient: no global fetch; pass options.fetch');
    // Browsers throw "Illegal invocation" when their fetch is called with another `this`.
    const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const token = options.token;
    // Relative to the base with a trailing slash, so a base URL with a path prefix keeps it.
    this.#endpoint = new URL(PUBLISH_PATH, options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`).toString();
    this.#getToken = typeof token === 'function' ? token : () => token;
    this.#maxRetries = options.maxRetries ?? 4;
    this.#backoff = { ...DEFAULT_RETRY_BACKOFF, ...options.retryBackoff };
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fetch = fetchImpl;
    this.#generateId = options.generateId ?? (() => globalThis.crypto.randomUUID());
    this.#random = options.random ?? Math.random;
  }

  /**
   * Resolves with the server's 202 answer. Rejects with a HeraldValidationError (400, 413) or
   * HeraldAuthError (401, 403) at once, with the last HeraldHttpError or HeraldNetworkError
   * once the retries are spent, and with a HeraldError of code `token` when the token function
   * fails. No answer, or a 2xx whose body cannot be read, rejects with a HeraldNetworkError
   * whose `id` (also in its message) is the notification's, generated or given: the notification
   * may have been accepted, and publishing it again with that `id` delivers it once.
   */
  async publish(notification: PublishRequest): Promise<PublishResponse> {
    const id = notification.id ?? this.#generateId();
    const body = JSON.stringify({ ...notification, id });
    for (let attempt = 0; ; attempt += 1) {
      let failure: HeraldHttpError | HeraldNetworkError;
      // A token error is not the network's: it is thrown as it is, not retried.
      const response = await this.#attempt(body, id).catch((error: unknown) => {
        if (error instanceof HeraldNetworkError) return error;
        throw error;
      });
      if (response instanceof HeraldNetworkError) {
        failure = response;
      } else if (response.ok) {
        return readPublishAnswer(response, id);
      } else {
        failure = await httpErrorOf(response);
        if (!isRetryableStatus(response.status)) throw failure;
      }
      if (attempt >= this.#maxRetries) throw failure;
      const backoffMs = Math.max(1, backoffDelayMs(attempt, this.#backoff, this.#random));
      // Publishers refused by the same 503 were told the same Retry-After: half their own random
      // backoff on top keeps them from all coming back in the same millisecond.
      await sleep(retryDelayMs(backoffMs, failure, this.#backoff.maxDelayMs, Math.floor(backoffMs / 2)));
    }
  }

  async #attempt(body: string, id: string): Promise<Response> {
    const token = await requestToken(this.#getToken, { option: 'token', timeoutMs: this.#timeoutMs, event: 'publish' });
    try {
      return await this.#fetch(this.#endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new HeraldNetworkError(
        `publish failed: ${describe(error)} (notification id ${id}: the server may have accepted it, and publishing it again with this id delivers it once)`,
        { cause: error, id },
      );
    }
  }
}

/** The 2xx answer, `{id, targets}`; one that cannot be read may still mean the notification was accepted. */
async function readPublishAnswer(response: Response, id: string): Promise<PublishResponse> {
  let answer: unknown;
  try {
    answer = await response.json();
  } catch (error) {
    answer = error;
  }
  if (isObject(answer) && typeof answer.id === 'string' && typeof answer.targets === 'number') return answer as PublishResponse;
  throw new HeraldNetworkError(
    `publish: HTTP ${response.status} with an answer that cannot be read; the notification may have been accepted: publish it again with the same id (${id}), which delivers it once`,
    { cause: answer, id },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
