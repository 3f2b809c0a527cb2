import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { verifyWebhook } from '@herald/client/webhooks';
import { HookClient } from './hook.client';

const SECRET = 'hooks-secret-0123456789';

describe('HookClient', () => {
  let server: Server;
  let handle: (request: IncomingMessage, response: ServerResponse, body: string) => void;
  let client: HookClient;
  const never = new AbortController().signal;

  beforeEach(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new HookClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, SECRET, 1);
  });
  afterEach(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('POSTs the body signed, and hands back the status and the body', async () => {
    handle = (request, response, body) => {
      const signed = verifyWebhook(SECRET, request.headers, Buffer.from(body));
      response.writeHead(signed && request.method === 'POST' ? 200 : 400).end(`got ${body}`);
    };
    const response = await client.post('{"a":1}', never);
    expect([response.status, response.ok, await response.text(100)]).toEqual([200, true, 'got {"a":1}']);
  });

  it('never follows a redirect', async () => {
    handle = (_request, response) => response.writeHead(302, { location: '/elsewhere' }).end();
    const response = await client.post('{}', never);
    expect([response.status, response.ok]).toEqual([302, false]);
  });

  it('reads no more of a body than it is allowed', async () => {
    handle = (_request, response) => response.writeHead(200).end('x'.repeat(100));
    expect(await (await client.post('{}', never)).text(99)).toBeUndefined();
  });

  it('ends the reading of a body with the reason its signal aborts with', async () => {
    handle = (_request, response) => response.writeHead(200).write('{"allow":');
    const deadline = new AbortController();
    const response = await client.post('{}', deadline.signal);
    const reading = response.text(100);
    deadline.abort(new DOMException('too slow', 'TimeoutError'));
    await expect(reading).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('sends again, on a new connection, a request whose kept connection the backend closed as it was reused', async () => {
    const answered = new Set<Socket>();
    handle = (request, response) => {
      // The backend's idle timeout closing the connection as the next request arrives on it.
      if (answered.has(request.socket)) return request.socket.destroy();
      answered.add(request.socket);
      response.writeHead(200).end('ok');
    };
    await (await client.post('{}', never)).text(10);
    const again = await client.post('{}', never);
    expect([again.status, await again.text(10), answered.size]).toEqual([200, 'ok', 2]);
  });
});
