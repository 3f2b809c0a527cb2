import { publisherToken } from './tokens';

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
}

/** A JSON request with fetch; `token: null` sends no Authorization header. */
export async function http(method: string, url: string, options: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined || options.raw !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(url, { method, headers, body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics): keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

/** POST /v1/notifications with a publisher token. */
export function publish(baseUrl: string, body: unknown, token: string | null = publisherToken()): Promise<HttpResult> {
  return http('POST', `${baseUrl}/v1/notifications`, { token, body });
}
