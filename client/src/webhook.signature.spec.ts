import { createHmac } from 'node:crypto';
import { signWebhook, verifyWebhook, webhookSignature } from './webhook.signature.ts';

const SECRET = 'a-hooks-secret-of-some-length';
const NOW_MS = Date.UTC(2026, 0, 1, 12, 0, 0);
const body = JSON.stringify({ events: [{ id: 'e1', type: 'user.online', timestamp: '2026-01-01T12:00:00.000Z', user: 'ann' }] });

describe('webhook signatures', () => {
  it('signs "<timestamp>.<body>" with HMAC-SHA256, as the contract spells it', () => {
    const headers = signWebhook(SECRET, body, NOW_MS);
    const timestamp = String(NOW_MS / 1000);
    expect(headers).toEqual({
      'x-herald-timestamp': timestamp,
      'x-herald-signature': `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`,
    });
    expect(webhookSignature(SECRET, timestamp, Buffer.from(body))).toBe(headers['x-herald-signature']);
  });

  it('verifies Node header records, fetch Headers and raw Buffer bodies', () => {
    const signed = signWebhook(SECRET, body, NOW_MS);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS })).toBe(true);
    expect(verifyWebhook(SECRET, new Headers(signed), Buffer.from(body), { nowMs: NOW_MS })).toBe(true);
    const nodeStyle = { 'X-Herald-Timestamp': signed['x-herald-timestamp'], 'x-herald-signature': [signed['x-herald-signature']] };
    expect(verifyWebhook(SECRET, nodeStyle, body, { nowMs: NOW_MS })).toBe(true);
  });

  it('refuses a tampered body, another secret, a forged or missing header', () => {
    const signed = signWebhook(SECRET, body, NOW_MS);
    expect(verifyWebhook(SECRET, signed, body.replace('ann', 'eve'), { nowMs: NOW_MS })).toBe(false);
    expect(verifyWebhook('another-secret-entirely', signed, body, { nowMs: NOW_MS })).toBe(false);
    expect(verifyWebhook(SECRET, { ...signed, 'x-herald-signature': 'sha256=00' }, body, { nowMs: NOW_MS })).toBe(false);
    expect(verifyWebhook(SECRET, { ...signed, 'x-herald-timestamp': String(NOW_MS / 1000 + 1) }, body, { nowMs: NOW_MS })).toBe(false);
    expect(verifyWebhook(SECRET, { 'x-herald-timestamp': signed['x-herald-timestamp'] }, body, { nowMs: NOW_MS })).toBe(false);
    expect(verifyWebhook(SECRET, { ...signed, 'x-herald-timestamp': 'soon' }, body, { nowMs: NOW_MS })).toBe(false);
    expect(verifyWebhook('', signed, body, { nowMs: NOW_MS })).toBe(false);
  });

  it('refuses a replay older than the tolerance (300 s by default)', () => {
    const signed = signWebhook(SECRET, body, NOW_MS);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS + 299_000 })).toBe(true);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS + 301_000 })).toBe(false);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS + 301_000, toleranceS: 600 })).toBe(true);
  });

  it('refuses a timestamp further ahead of the clock than the tolerance', () => {
    const signed = signWebhook(SECRET, body, NOW_MS);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS - 299_000 })).toBe(true);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS - 301_000 })).toBe(false);
    expect(verifyWebhook(SECRET, signed, body, { nowMs: NOW_MS - 301_000, toleranceS: 600 })).toBe(true);
  });

  it('throws a RangeError for a nowMs that is not a finite number, which would compare as no distance at all', () => {
    const signed = signWebhook(SECRET, body, NOW_MS);
    for (const nowMs of [Number.NaN, Number.POSITIVE_INFINITY, String(NOW_MS) as unknown as number]) {
      expect(() => verifyWebhook(SECRET, signed, body, { nowMs })).toThrow(new RangeError(`verifyWebhook: options.nowMs must be a finite number (got ${String(nowMs)})`));
    }
  });

  it('refuses a tolerance that would turn replay protection off', () => {
    const ancient = { 'x-herald-timestamp': '1', 'x-herald-signature': webhookSignature(SECRET, 1, body) };
    for (const toleranceS of [Number.NaN, -1, Number.POSITIVE_INFINITY, '300' as unknown as number]) {
      expect(() => verifyWebhook(SECRET, ancient, body, { nowMs: NOW_MS, toleranceS })).toThrow(RangeError);
    }
    expect(verifyWebhook(SECRET, ancient, body, { nowMs: NOW_MS, toleranceS: 0 })).toBe(false);
  });

  it('answers false, without throwing, for a parsed or missing body and for missing headers', () => {
    const signed = signWebhook(SECRET, body, NOW_MS);
    const verify = (headers: unknown, received: unknown) => verifyWebhook(SECRET, headers as Record<string, string>, received as string, { nowMs: NOW_MS });
    expect(verify(signed, JSON.parse(body))).toBe(false);
    expect(verify(signed, undefined)).toBe(false);
    expect(verify(null, body)).toBe(false);
    expect(verify(undefined, body)).toBe(false);
    expect(verify({ 'x-herald-timestamp': 42, 'x-herald-signature': signed['x-herald-signature'] }, body)).toBe(false);
  });

  it('accepts a timestamp only in the plain decimal Herald writes', () => {
    const spelled = (timestamp: string) => ({ 'x-herald-timestamp': timestamp, 'x-herald-signature': webhookSignature(SECRET, timestamp, body) });
    const seconds = String(NOW_MS / 1000);
    expect(verifyWebhook(SECRET, spelled(seconds), body, { nowMs: NOW_MS })).toBe(true);
    for (const timestamp of [`0${seconds}`, `+${seconds}`, ` ${seconds}`, `${seconds}.0`, '1.767e9']) {
      expect(verifyWebhook(SECRET, spelled(timestamp), body, { nowMs: NOW_MS })).toBe(false);
    }
  });
});
