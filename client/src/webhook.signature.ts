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
  /** Largest distance between the timestamp and now, in seconds (default 300). */
  toleranceS?: number;
  /** For tests. */
  nowMs?: number;
}

/**
 * True when a request really comes from Herald: its signature matches the raw body (exactly the
 * bytes received, before any JSON parsing) under `secret`, and its timestamp is within
 * `toleranceS` of now, so a captured request cannot be replayed later. Compares in constant time.
 *
 *     app.post('/herald', express.raw({ type: 'application/json' }), (req, res) => {
 *       if (!verifyWebhook(process.env.HOOKS_SECRET, req.headers, req.body)) return res.sendStatus(401);
 *       const { events } = JSON.parse(req.body.toString('utf8'));
 *       ...
 *     });
 */
export function verifyWebhook(secret: string, headers: HeadersLike, body: string | Uint8Array, options: VerifyWebhookOptions = {}): boolean {
  const timestamp = header(headers, HOOK_TIMESTAMP_HEADER);
  const signature = header(headers, HOOK_SIGNATURE_HEADER);
  if (!secret || timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  const toleranceS = options.toleranceS ?? DEFAULT_WEBHOOK_TOLERANCE_S;
  const nowS = (options.nowMs ?? Date.now()) / 1000;
  if (Math.abs(nowS - Number(timestamp)) > toleranceS) return false;
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const received = Buffer.from(signature);
  // timingSafeEqual throws on different lengths; the length of a hex digest is no secret.
  return received.length === expected.length && timingSafeEqual(received, expected);
}

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}
