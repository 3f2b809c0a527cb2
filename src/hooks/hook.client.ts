import { Agent as HttpAgent, ClientRequest, IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { signWebhook } from '@herald/client/webhooks';

/** What Herald sends with every backend request, besides the signature. */
const USER_AGENT = 'Herald-Hooks/1';
/**
 * An idle connection is closed after this (or sooner, when the backend's `Keep-Alive: timeout`
 * says so): before Node's own servers drop one (5 s), so a request is rarely sent on a
 * connection the backend is closing. The same as fetch's default.
 */
const IDLE_CONNECTION_MS = 4000;
/** A body nobody reads is drained up to this, keeping its connection; a longer one closes it. */
const DISCARD_MAX_BYTES = 64 * 1024;

/**
 * POSTs to one backend URL, signed as section 8 says (X-Herald-Timestamp, X-Herald-Signature),
 * over at most `maxConnections` keep-alive connections: a request finding them all busy waits
 * for one to come back, so the backend never sees more.
 *
 * Why not fetch: its connection pool cannot be bounded without the `undici` package, and a slot
 * freed once a body has been read let the next request in before the connection was back in the
 * pool, so it opened another: JOIN_PROXY_CONCURRENCY 4 opened 7 or 8 connections, 16 up to 32.
 */
export class HookClient {
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;

  constructor(
    private readonly url: string,
    private readonly secret: string,
    maxConnections: number,
  ) {
    const https = new URL(url).protocol === 'https:';
    const options = { keepAlive: true, maxSockets: maxConnections, maxTotalSockets: maxConnections, timeout: IDLE_CONNECTION_MS };
    this.agent = https ? new HttpsAgent(options) : new HttpAgent(options);
    this.send = https ? httpsRequest : httpRequest;
  }

  /**
   * Resolves with the response once its head has arrived; rejects on a network error, or with
   * `signal`'s reason when it aborts (its timeout, or shutdown), which also ends the reading of
   * the body. Redirects are not followed: a signed request goes where it was configured to go.
   */
  post(body: string, signal: AbortSignal): Promise<HookResponse> {
    return this.attempt(body, signal, true);
  }

  private attempt(body: string, signal: AbortSignal, mayRetry: boolean): Promise<HookResponse> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const request: ClientRequest = this.send(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': USER_AGENT,
          ...signWebhook(this.secret, body),
        },
      });
      let response: IncomingMessage | undefined;
      // Destroying the response first makes its reader fail with the signal's reason (the
      // request's destroy alone would fail it with "aborted").
      const abort = () => {
        response?.destroy(signal.reason);
        request.destroy(signal.reason);
      };
      signal.addEventListener('abort', abort, { once: true });
      request.once('close', () => signal.removeEventListener('abort', abort));
      // `on`, not `once`: an error after the response (a reset mid-body) must not go unhandled;
      // the reader of the body sees it then, and this does nothing.
      request.on('error', (error: NodeJS.ErrnoException) => {
        // A kept connection that the backend closed (its idle timeout) just as it was reused: the
        // request is sent once more, on a new connection. Both hooks may take a request twice
        // (a join's decision is asked again, webhook events are de-duplicated by id).
        const closedUnderUs = request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
        if (mayRetry && closedUnderUs && !response && !signal.aborted) resolve(this.attempt(body, signal, false));
        else reject(error);
      });
      request.once('response', (message: IncomingMessage) => {
        response = message;
        // The body's reader gets every error of the body from its iterator; this listener only
        // keeps one that comes before it starts reading from being thrown as unhandled.
        message.on('error', () => undefined);
        resolve(new HookResponse(message));
      });
      request.end(body);
    });
  }

  /** Closes the connections, idle or not. */
  close(): void {
    this.agent.destroy();
  }
}

/** A backend's answer; read its body with `text` or throw it away with `discard`, once. */
export class HookResponse {
  constructor(private readonly message: IncomingMessage) {}

  get status(): number {
    return this.message.statusCode ?? 0;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as text, refusing to read more than `maxBytes` (a backend is no reason to run out of memory). */
  async text(maxBytes: number): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.message as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      // Leaving the loop destroys the response, and with it the connection: the rest is never read.
      if (size > maxBytes) return undefined;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Reads a body that does not matter to its end, so its connection can be reused (a long one is cut off). */
  async discard(): Promise<void> {
    await this.text(DISCARD_MAX_BYTES);
  }
}
