import { signWebhook } from '@herald/client/webhooks';

/** What Herald sends with every backend request, besides the signature. */
const USER_AGENT = 'Herald-Hooks/1';

/**
 * POSTs a JSON body signed as section 8 says (X-Herald-Timestamp, X-Herald-Signature). Rejects
 * on a network error or when `signal` aborts (its timeout, or shutdown). Redirects are not
 * followed: a signed request goes where it was configured to go, or fails.
 */
export function postSigned(url: string, secret: string, body: string, signal: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...signWebhook(secret, body) },
    body,
    signal,
    redirect: 'manual',
  });
}

/** The response body as text, refusing to read more than `maxBytes` (a backend is no reason to run out of memory). */
export async function readLimitedText(response: Response, maxBytes: number): Promise<string | undefined> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Empties a response whose body does not matter, so its connection can be reused. */
export async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel();
}

/** A rough outcome label for metrics: `2xx`, `4xx`, `5xx`, ... */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
