import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';

/** An upgrade made by hand on a raw socket, which then answers nothing, not even a close. */
export interface RawUpgrade {
  /** Everything the server wrote so far (latin1). */
  received(): string;
  /** Everything the server wrote, once it closed the connection. */
  readonly closed: Promise<string>;
  /** What the first read returned: what the server wrote in its first write call, over loopback. */
  readonly firstChunk: Promise<string>;
  /** Writes more bytes after the upgrade (frames made by hand). */
  write(bytes: Buffer): void;
  /** Closes the connection from the client's side at once. */
  hangUp(): void;
}

/**
 * Sends an upgrade request by hand to the WebSocket URL's port and path (or `path`, written as
 * it is), with `host`, the Herald subprotocol and `token` as `bearer.<token>` when given, extra
 * `headers`, then `after`, and reads whatever the server writes until
 * it closes the connection.
 */
export function rawUpgrade(wsUrl: string, { host = '127.0.0.1', headers = '', path, token }: { host?: string; headers?: string; path?: string; token?: string } = {}, after?: Buffer): RawUpgrade {
  const { port, pathname } = new URL(wsUrl);
  const raw = createConnection({ host: '127.0.0.1', port: Number(port) });
  let received = '';
  const firstChunk = new Promise<string>((resolve) => raw.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
  const closed = new Promise<string>((resolve) => {
    raw.on('data', (chunk) => (received += chunk.toString('latin1')));
    raw.on('close', () => resolve(received));
    raw.on('error', () => undefined); // the server may reset the connection; the test reads what arrived
  });
  raw.write(
    `GET ${path ?? pathname} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `${token === undefined ? '' : `Sec-WebSocket-Protocol: herald.v1, bearer.${token}\r\n`}${headers}\r\n`,
  );
  if (after) raw.write(after);
  return { received: () => received, closed, firstChunk, write: (bytes) => void raw.write(bytes), hangUp: () => raw.destroy() };
}
