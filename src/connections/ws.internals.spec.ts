import type { EventEmitter } from 'node:events';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { deflateParamsOf, endReceiversOnce, frameHeaderAndPayload, prependReceiverErrorListener, senderIsIdle, socketOfReceiver, streamOf, writeFrame } from './ws.internals';

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

  const receiverOf = (socket: WebSocket) => (socket as unknown as { _receiver: Writable })._receiver;

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
    const seen: unknown[] = [];
    // ws's own listener reports the oversized frame here, after closing the socket.
    serverSocket.on('error', (error: Error & { code?: string }) => seen.push(`ws: ${error.code}`));
    prependReceiverErrorListener(serverSocket, function (this: EventEmitter, error) {
      seen.push({ code: error.code, socket: socketOfReceiver(this), readyState: serverSocket.readyState });
    });
    // One listener still, not an array of two kept per connection.
    expect(receiverOf(serverSocket).listenerCount('error')).toBe(1);
    const closed = once(client, 'close');
    client.send('x'.repeat(64));
    expect((await closed)[0]).toBe(1009);
    expect(seen).toEqual([{ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', socket: serverSocket, readyState: WebSocket.OPEN }, 'ws: WS_ERR_UNSUPPORTED_MESSAGE_LENGTH']);
  });

  it("runs the listener first even when the Receiver has another 'error' listener besides ws's", async () => {
    await open(false, 16);
    const seen: string[] = [];
    serverSocket.on('error', () => seen.push('ws'));
    receiverOf(serverSocket).on('error', () => seen.push('other'));
    prependReceiverErrorListener(serverSocket, () => seen.push('first'));
    const closed = once(client, 'close');
    client.send('x'.repeat(64));
    await closed;
    expect(seen).toEqual(['first', 'ws', 'other']);
  });

  it('serves every socket with one function, each Receiver naming its own socket', async () => {
    await open(false, 16);
    const second = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [secondServerSocket] = (await once(server, 'connection')) as [WebSocket];
    await once(second, 'open');
    const named: (WebSocket | undefined)[] = [];
    const listener = function (this: EventEmitter) {
      named.push(socketOfReceiver(this));
    };
    for (const socket of [serverSocket, secondServerSocket]) {
      socket.on('error', () => undefined);
      prependReceiverErrorListener(socket, listener);
    }
    expect(receiverOf(serverSocket).listeners('error')[0]).toBe(receiverOf(secondServerSocket).listeners('error')[0]);
    const secondClosed = once(second, 'close');
    second.send('y'.repeat(64));
    await secondClosed;
    const firstClosed = once(client, 'close');
    client.send('x'.repeat(64));
    await firstClosed;
    expect(named).toEqual([secondServerSocket, serverSocket]);
    second.terminate();
  });

  describe('endReceiversOnce', () => {
    type Receiver = Writable & { end(...args: unknown[]): Writable };
    const receiverOf = (socket: WebSocket) => (socket as unknown as { _receiver: Receiver })._receiver;

    it('is needed: ws ends the Receiver of a cleanly closed socket again after it finished', async () => {
      await open(false);
      const receiver = receiverOf(serverSocket);
      const ends: boolean[] = [];
      const end = receiver.end.bind(receiver);
      receiver.end = (...args: unknown[]) => {
        ends.push(receiver.writableFinished);
        return end(...args);
      };
      const closed = once(serverSocket, 'close');
      client.close(1000, 'bye');
      expect((await closed).map(String)).toEqual(['1000', 'bye']);
      // At the close frame (the Receiver itself), then at the stream's end and at its close: the
      // last two each built an ERR_STREAM_ALREADY_FINISHED without this.
      expect(ends).toEqual([false, true, true]);
    });

    it("returns at once from a second end() without arguments, leaves the rest to Writable's, and installs once", async () => {
      endReceiversOnce();
      const installed = (WebSocket as unknown as { Receiver: { prototype: Receiver } }).Receiver.prototype.end;
      expect(installed).not.toBe(Writable.prototype.end);
      endReceiversOnce();
      expect((WebSocket as unknown as { Receiver: { prototype: Receiver } }).Receiver.prototype.end).toBe(installed);

      await open(false);
      const receiver = receiverOf(serverSocket);
      const closed = once(serverSocket, 'close');
      client.close(1000, 'bye');
      // The clean close still runs its course through ws's three end() calls.
      expect((await closed).map(String)).toEqual(['1000', 'bye']);
      expect(receiver.writableFinished).toBe(true);
      expect(receiver.end()).toBe(receiver);
      // With a callback it is Writable's end: the callback hears that the stream had finished.
      const error = await new Promise<Error & { code?: string }>((resolve) => receiver.end((endError: Error) => resolve(endError)));
      expect(error.code).toBe('ERR_STREAM_ALREADY_FINISHED');
    });

    it('still ends a Receiver the first time', async () => {
      endReceiversOnce();
      await open(false);
      const receiver = receiverOf(serverSocket);
      const finished = once(receiver, 'finish');
      receiver.end();
      await finished;
      expect(receiver.writableFinished).toBe(true);
    });
  });
});
