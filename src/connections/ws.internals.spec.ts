import type { EventEmitter } from 'node:events';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { deflateParamsOf, frameHeaderAndPayload, prependReceiverErrorListener, senderIsIdle, socketOfReceiver, streamOf, writeFrame } from './ws.internals';

/**
 * Pins every `ws` internal Herald uses on real sockets. When a `ws` upgrade breaks one, this
 * fails naming it: fix src/connections/ws.internals.ts before shipping the upgrade.
 */
describe('ws internals', () => {
  let server: WebSocketServer;
  let client: WebSocket;
  let serverSocket: WebSocket;

  async function open(perMessageDeflate: boolean, maxPayload = 1024): Promise<void> {
    server = new WebSocketServer({ port: 0, maxPayload, perMessageDeflate: perMessageDeflate ? { serverNoContextTakeover: true } : false });
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate });
    [serverSocket] = (await accepted) as [WebSocket];
    await once(client, 'open');
  }

  afterEach(async () => {
    client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  it('writes a frame built by Sender.frame straight to an idle Sender, and the peer reads it', async () => {
    await open(false);
    expect(senderIsIdle(serverSocket)).toBe(true);
    const received = once(client, 'message');
    writeFrame(serverSocket, [Buffer.concat(frameHeaderAndPayload(Buffer.from('{"event":"ping"}'), 1, false))]);
    const [data, isBinary] = (await received) as [Buffer, boolean];
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe('{"event":"ping"}');
  });

  it('reaches the TCP stream under a socket', async () => {
    await open(false);
    expect(streamOf(serverSocket)).toBeInstanceOf(Socket);
  });

  it('reads the permessage-deflate parameters a socket agreed, and none for a socket without it', async () => {
    await open(true);
    expect(deflateParamsOf(serverSocket)).toMatchObject({ server_no_context_takeover: true });
    client.terminate();
    await new Promise((resolve) => server.close(resolve));
    await open(false);
    expect(deflateParamsOf(serverSocket)).toBeUndefined();
  });

  it("runs a Receiver 'error' listener before ws's own, with the Receiver naming its socket", async () => {
    await open(false, 16);
    const seen: { code: string | undefined; socket: WebSocket | undefined; readyState: number }[] = [];
    serverSocket.on('error', () => undefined); // ws reports the oversized frame here too
    prependReceiverErrorListener(serverSocket, function (this: EventEmitter, error) {
      seen.push({ code: error.code, socket: socketOfReceiver(this), readyState: serverSocket.readyState });
    });
    const closed = once(client, 'close');
    client.send('x'.repeat(64));
    await closed;
    expect(seen).toEqual([{ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', socket: serverSocket, readyState: WebSocket.OPEN }]);
  });
});
