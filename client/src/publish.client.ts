import { backoffDelayMs, type BackoffOptions } from './backoff.policy.ts';
import { HeraldNetworkError, describe, httpErrorFor, readHttpErrorBody, type HeraldHttpError } from './herald.errors.ts';
import type { PublishRequest, PublishResponse } from './protocol.ts';

export interface PublishClientOptions {
  /** Herald's HTTP base URL, e.g. `http://herald:3000` (the internal port when INTERNAL_PORT is set). */
  baseUrl: string;
  /** A JWT with scope `notifications:publish`, or a function returning one (called per attempt). */
  token: string | (() => string | Promise<string>);
  /** Retries after the first attempt, for network errors, 429 and 5xx. */
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
    this.#endpoint = new URL('/v1/notifications', options.baseUrl).toString();
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
   * HeraldAuthError (401, 403) at once, and with the last HeraldHttpError or HeraldNetworkError
   * once the retries are spent.
   */
  async publish(notification: PublishRequest): Promise<PublishResponse> {
    const body = JSON.stringify({ ...notification, id: notification.id ?? this.#generateId() });
    for (let attempt = 0; ; attempt += 1) {
      let failure: HeraldHttpError | HeraldNetworkError;
      const response = await this.#attempt(body).catch((error: unknown) => {
        if (error instanceof HeraldNetworkError) return error;
        throw error; // getToken failed: not ours to retry
      });
      if (response instanceof HeraldNetworkError) {
        failure = response;
      } else if (response.ok) {
        return (await response.json()) as PublishResponse;
      } else {
        failure = httpErrorFor(response.status, await readHttpErrorBody(response));
        if (!isRetryable(response.status)) throw failure;
      }
      if (attempt >= this.#maxRetries) throw failure;
      await sleep(Math.max(1, backoffDelayMs(attempt, this.#backoff, this.#random)));
    }
  }

  async #attempt(body: string): Promise<Response> {
    const token = await this.#getToken();
    try {
      return await this.#fetch(this.#endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new HeraldNetworkError(`publish failed: ${describe(error)}`, {
        cause: error,
      });
    }
  }
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
