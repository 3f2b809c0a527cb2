import type { ErrorCode, HttpErrorBody } from './protocol.ts';

/**
 * Codes of a {@link HeraldError}: the server's error codes, plus what the client itself
 * can conclude (no reply in time, the connection dropped before the reply, the client was closed,
 * getToken failed or returned the token the server had just rejected, the server refused the
 * connection's Origin: close 1008 `origin_not_allowed`, which no new token mends).
 */
export type HeraldErrorCode = ErrorCode | 'timeout' | 'disconnected' | 'closed' | 'token' | 'origin_not_allowed';

/** An error frame from the server, or a request the client could not complete. */
export class HeraldError extends Error {
  override readonly name = 'HeraldError';

  constructor(
    readonly code: HeraldErrorCode,
    message: string,
    /** The client event the error answers (`join`, `message`, ...), when known. */
    readonly event?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A publish or HTTP API call that failed with an HTTP status (after retries for 5xx). */
export class HeraldHttpError extends Error {
  override name = 'HeraldHttpError';

  constructor(
    readonly status: number,
    /** NestJS's standard error body when the server sent one. */
    readonly body: HttpErrorBody | undefined,
    message = describeHttpError(status, body),
    /**
     * How long the server asked callers to wait before trying again (the `Retry-After` of a 429
     * or 503, in ms), when it said.
     */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** 400 or 413: the request itself is wrong; repeating it cannot succeed. */
export class HeraldValidationError extends HeraldHttpError {
  override name = 'HeraldValidationError';
}

/** 401 (missing or invalid token) or 403 (the token lacks the scope). */
export class HeraldAuthError extends HeraldHttpError {
  override name = 'HeraldAuthError';
}

/**
 * The request never got an HTTP answer (DNS, refused connection, reset, per-attempt timeout), or
 * a publish's 2xx answer could not be read.
 */
export class HeraldNetworkError extends Error {
  override readonly name = 'HeraldNetworkError';
  /**
   * From PublishClient: the `id` the notification was sent with (the caller's, or the one the
   * client generated). The server may have accepted it: publishing it again with this id
   * delivers it once. Undefined for the inbox's requests.
   */
  readonly id: string | undefined;

  constructor(message: string, options?: { cause?: unknown; id?: string }) {
    super(message, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined);
    this.id = options?.id;
  }
}

/** An HTTP status worth asking again after a while: the server or something before it is busy or down. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** A failed request worth making again after a while: no answer (or none readable), or a retryable status. */
export function isRetryableFailure(error: unknown): boolean {
  return error instanceof HeraldNetworkError || (error instanceof HeraldHttpError && isRetryableStatus(error.status));
}

/** The error a failed HTTP answer stands for, with its body (when JSON) and its Retry-After. */
export async function httpErrorOf(response: Response, nowMs = Date.now()): Promise<HeraldHttpError> {
  const { status } = response;
  const body = await readHttpErrorBody(response);
  if (status === 400 || status === 413 || status === 422) return new HeraldValidationError(status, body);
  if (status === 401 || status === 403) return new HeraldAuthError(status, body);
  return new HeraldHttpError(status, body, undefined, retryAfterMsOf(response, nowMs));
}

/**
 * The wait before trying a failed request again: the backoff's, or, when the server asked for
 * longer (Retry-After), that plus `spreadMs`, so clients told the same moment do not all come
 * back at it; never more than `maxDelayMs` plus the spread (a proxy's Retry-After of an hour
 * must not park a client that long).
 */
export function retryDelayMs(backoffMs: number, failure: unknown, maxDelayMs: number, spreadMs = 0): number {
  const asked = failure instanceof HeraldHttpError ? failure.retryAfterMs : undefined;
  return asked === undefined ? backoffMs : Math.max(backoffMs, Math.min(asked, maxDelayMs) + spreadMs);
}

/**
 * Retry-After of a 429 or 503 (RFC 9110: seconds, or an HTTP date), in ms from `nowMs`;
 * undefined when absent or unreadable.
 */
function retryAfterMsOf(response: Response, nowMs: number): number | undefined {
  if (response.status !== 429 && response.status !== 503) return undefined;
  const value = response.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its day and month; Date.parse would also take `-1` or `1.5` for dates.
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const atMs = Date.parse(value);
  return Number.isNaN(atMs) ? undefined : Math.max(0, atMs - nowMs);
}

/** The error body of a failed HTTP answer, when it is JSON. */
async function readHttpErrorBody(response: Response): Promise<HttpErrorBody | undefined> {
  try {
    return (await response.json()) as HttpErrorBody;
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): the status alone describes the failure.
    return undefined;
  }
}

function describeHttpError(status: number, body: HttpErrorBody | undefined): string {
  const detail = body === undefined ? '' : Array.isArray(body.message) ? body.message.join('; ') : body.message;
  return detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`;
}

/** A JSON object (not null, not an array): what every frame and HTTP answer must be. */
export function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The message of whatever was thrown, for error texts. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
