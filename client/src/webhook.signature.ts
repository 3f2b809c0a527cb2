/// <reference types="node" />
// Node only (node:crypto): imported as `@herald/client/webhooks`, never from the browser entry.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HOOK_SIGNATURE_HEADER, HOOK_TIMESTAMP_HEADER } from './protocol.ts';

/** Requests older or newer than this (seconds) are refused as replays by default. */
export const DEFAULT_WEBHOOK_TOLERANCE_S = 300;

const SIGNATURE_PREFIX = 'sha256=';

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, the contract's signature (section 8). */
export function webhookSignature(secret: string, timestampS: number | string, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestampS}.`);
  hmac.update(body);
  return SIGNATURE_PREFIX + hmac.digest('hex');
}

/** The two headers Herald puts on every webhook and join-proxy request. */
export function signWebhook(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestampS = Math.floor(nowMs / 1000);
  return { [HOOK_TIMESTAMP_HEADER]: String(timestampS), [HOOK_SIGNATURE_HEADER]: webhookSignature(secret, timestampS, body) };
}

/** Headers as fetch (`Headers`), Node's http (`req.headers`) or a plain object give them. */
export type HeadersLike = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /**
   * Largest distance between the timestamp and now, in seconds (default 300): a finite number,
   * 0 or more. Anything else throws a RangeError rather than quietly turning replay protection off.
   */
  toleranceS?: number;
  /** For tests. */
  nowMs?: number;
}

/**
 * A timestamp exactly as Herald writes it: unix seconds in plain decimal, no sign, no leading
 * zero, no white space. The signature covers the header's text, so "0" + a valid timestamp
 * would be another signed string: only one spelling of each second is accepted.
 */
const TIMESTAMP_PATTERN = /^[1-9][0-9]{0,11}$/;

/**
 * True when a request really comes from Herald: its signature matches the raw body (exactly the
 * bytes received, before any JSON parsing) under `secret`, and its timestamp is within
 * `toleranceS` of now, so a captured request cannot be replayed later. Compares in constant time.
 * False, never a throw, for whatever a request may bring: missing headers, no body, or a body
 * a JSON middleware already parsed (an object cannot be verified: pass the raw string or bytes).
 *
 *     app.post('/herald', express.raw({ type: 'application/json' }), (req, res) => {
 *       if (!verifyWebhook(process.env.HOOKS_SECRET, req.headers, req.body)) return res.sendStatus(401);
 *       const { events } = JSON.parse(req.body.toString('utf8'));
 *       ...
 *     });
 */
export function verifyWebhook(secret: string, headers: HeadersLike, body: string | Uint8Array, options: VerifyWebhookOptions = {}): boolean {
  const toleranceS = options.toleranceS ?? DEFAULT_WEBHOOK_TOLERANCE_S;
  if (typeof toleranceS !== 'number' || !Number.isFinite(toleranceS) || toleranceS < 0) {
    throw new RangeError(`verifyWebhook: options.toleranceS must be a finite number of seconds, 0 or more (got ${String(toleranceS)})`);
  }
  const nowMs = options.nowMs ?? Date.now();
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new RangeError(`verifyWebhook: options.nowMs must be a finite number (got ${String(nowMs)})`);
  if (typeof secret !== 'string' || secret === '' || !(typeof body === 'string' || body instanceof Uint8Array)) return false;
  const timestamp = header(headers, HOOK_TIMESTAMP_HEADER);
  const signature = header(headers, HOOK_SIGNATURE_HEADER);
  if (timestamp === undefined || signature === undefined || !TIMESTAMP_PATTERN.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceS) return false;
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const received = Buffer.from(signature);
  // timingSafeEqual throws on different lengths; the length of a hex digest is no secret.
  return received.length === expected.length && timingSafeEqual(received, expected);
}

/** The header's value, or undefined when there is none (or no headers at all). */
function header(headers: HeadersLike | null | undefined, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  let value: unknown;
  if (typeof headers.get === 'function') {
    value = (headers as { get(name: string): string | null }).get(name);
  } else {
    const record = headers as Record<string, unknown>;
    value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  }
  if (Array.isArray(value)) value = value[0];
  return typeof value === 'string' ? value : undefined;
}
