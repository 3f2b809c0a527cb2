import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookEvent } from '@herald/client/protocol';

export interface ReceivedRequest {
  headers: IncomingMessage['headers'];
  /** Exactly the bytes received, as the signature covers them. */
  rawBody: string;
  body: any;
}

/**
 * An answer: a status and JSON body, or a `rawBody` written as it is (JSON that JSON.stringify
 * cannot write, such as 1e309), after `delayMs`; or `hang` to never answer (a timeout).
 */
export type Answer = { status: number; body?: unknown; rawBody?: string; delayMs?: number } | 'hang';

/**
 * A real HTTP receiver on a free loopback port, standing in for a backend: it records every
 * request and answers with `answer(request)` (default 200).
 */
export class HookReceiver {
  readonly requests: ReceivedRequest[] = [];
  answer: (request: ReceivedRequest) => Answer = () => ({ status: 200 });
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();
  url = '';

  private constructor() {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  static async start(): Promise<HookReceiver> {
    const receiver = new HookReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks`;
    return receiver;
  }

  /** Every event of every request answered 2xx or not, in arrival order. */
  events(): WebhookEvent[] {
    return this.requests.flatMap((request) => (request.body?.events ?? []) as WebhookEvent[]);
  }

  /** Events of requests this receiver answered with a 2xx, de-duplicated by id as a receiver should. */
  accepted: WebhookEvent[] = [];

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const received: ReceivedRequest = { headers: request.headers, rawBody, body };
      this.requests.push(received);
      const answer = this.answer(received);
      if (answer === 'hang') {
        this.hanging.add(response);
        response.on('close', () => this.hanging.delete(response));
        return;
      }
      if (answer.status >= 200 && answer.status < 300) {
        for (const event of ((body as { events?: WebhookEvent[] })?.events ?? [])) {
          if (!this.accepted.some((seen) => seen.id === event.id)) this.accepted.push(event);
        }
      }
      const respond = () => {
        this.hanging.delete(response);
        response.writeHead(answer.status, { 'content-type': 'application/json' });
        response.end(answer.rawBody ?? (answer.body === undefined ? '' : JSON.stringify(answer.body)));
      };
      if (!answer.delayMs) return respond();
      this.hanging.add(response);
      setTimeout(respond, answer.delayMs);
    });
  }
}
