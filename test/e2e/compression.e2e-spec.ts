import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { ConnectionHub } from '../../src/connections/connection.hub';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { connectClient, ServerFrame, TestClient } from '../support/ws-client';

/** Compressible, and far above the minimum: 'herald ' x 3,000 is 21,000 bytes of JSON text. */
const LARGE = 'herald '.repeat(3000);
const SMALL = 'hi';
const TEXTS = [LARGE, SMALL, LARGE, SMALL, LARGE];

/** Publishes TEXTS to a room, then waits until the client has them all; returns the bytes read meanwhile. */
async function receiveAll(app: TestApp, clients: TestClient[], room: string): Promise<{ frames: ServerFrame[][]; bytesRead: number[] }> {
  const before = clients.map((client) => bytesReadBy(client));
  for (const text of TEXTS) expect((await publish(app.url, { rooms: [room], type: 'note', payload: { text } })).status).toBe(202);
  const frames = await Promise.all(
    clients.map(async (client) => {
      const received: ServerFrame[] = [];
      for (let i = 0; i < TEXTS.length; i++) received.push(await client.next('notification'));
      return received;
    }),
  );
  return { frames, bytesRead: clients.map((client, i) => bytesReadBy(client) - before[i]) };
}

/** The permessage-deflate parameters the client and Herald agreed on. */
function agreedDeflate(client: TestClient): Record<string, unknown> | undefined {
  return (client.socket as unknown as { _extensions: Record<string, { params: Record<string, unknown> } | undefined> })._extensions['permessage-deflate']?.params;
}

function bytesReadBy(client: TestClient): number {
  return (client.socket as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
}

/** Every text in the order published, with increasing seq. */
function expectInOrder(frames: ServerFrame[]): void {
  expect(frames.map((frame) => frame.data.payload.text)).toEqual(TEXTS);
  const seqs = frames.map((frame) => frame.data.seq as string);
  // Fixed-width seqs sort as plain strings (docs/protocol.md, section 8).
  expect([...seqs].sort()).toEqual(seqs);
  expect(new Set(seqs).size).toBe(seqs.length);
}

const textBytes = TEXTS.reduce((sum, text) => sum + text.length, 0);

/** Upgrades by hand with this Sec-WebSocket-Extensions header; resolves with the response's head. */
function upgradeOffering(app: TestApp, extensions: string): Promise<string> {
  const { port, pathname } = new URL(app.wsUrl);
  const raw = createConnection({ host: '127.0.0.1', port: Number(port) });
  return new Promise((resolve, reject) => {
    let received = '';
    raw.on('data', (chunk) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      raw.destroy();
      resolve(received.slice(0, end));
    });
    raw.on('error', reject);
    raw.write(
      `GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: herald.v1, bearer.${signToken({ sub: 'odd-offer' })}\r\nSec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
    );
  });
}

describe.each(BROKER_KINDS)('permessage-deflate (%s broker)', (kind) => {
  const broker = useBroker(kind);

  describe('off by default', () => {
    let app: TestApp;
    beforeAll(async () => (app = await createTestApp(broker.env())));
    afterAll(() => app.close());

    it('is not negotiated even when the client offers it, and messages go uncompressed', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'offers', rooms: ['news:*'] }), { perMessageDeflate: true });
      expect(client.socket.extensions).toBe('');
      await client.join('news:plain');
      const { frames, bytesRead } = await receiveAll(app, [client], 'news:plain');
      expectInOrder(frames[0]);
      expect(bytesRead[0]).toBeGreaterThan(textBytes);
      await client.close();
    });
  });

  describe('with WS_COMPRESSION=true', () => {
    let app: TestApp;
    beforeAll(async () => (app = await createTestApp({ ...broker.env(), WS_COMPRESSION: 'true', WS_COMPRESSION_MIN_BYTES: '1024' })));
    afterAll(() => app.close());

    it('compresses large messages for clients that offer it, keeps small ones plain and the order intact, and leaves other clients uncompressed', async () => {
      const offering = await connectClient(app.wsUrl, signToken({ sub: 'deflater', rooms: ['news:*'] }), { perMessageDeflate: true });
      const plain = await connectClient(app.wsUrl, signToken({ sub: 'plain', rooms: ['news:*'] }), { perMessageDeflate: false });
      expect(offering.socket.extensions).toContain('permessage-deflate');
      expect(plain.socket.extensions).toBe('');
      await offering.join('news:mixed');
      await plain.join('news:mixed');
      const { frames, bytesRead } = await receiveAll(app, [offering, plain], 'news:mixed');
      for (const received of frames) expectInOrder(received);
      // Three 21 KB messages of one repeated word compress to a few hundred bytes each.
      expect(bytesRead[0]).toBeLessThan(textBytes / 10);
      expect(bytesRead[1]).toBeGreaterThan(textBytes);
      // Broadcasts were compressed once, not by ws per socket: no socket holds a deflate stream.
      const deflaters = [...app.app.get(ConnectionHub).all()].map(
        (connection) => (connection.socket as unknown as { _extensions: Record<string, { _deflate: unknown } | undefined> })._extensions['permessage-deflate']?._deflate ?? null,
      );
      expect(deflaters).toEqual([null, null]);
      await Promise.all([offering.close(), plain.close()]);
    });

    it('compresses within a smaller window when a client asks for one', async () => {
      const narrow = await Promise.all(
        ['narrow1', 'narrow2'].map((sub) => connectClient(app.wsUrl, signToken({ sub, rooms: ['news:*'] }), { perMessageDeflate: { serverMaxWindowBits: 10 } })),
      );
      for (const client of narrow) expect(agreedDeflate(client)).toMatchObject({ server_no_context_takeover: true, server_max_window_bits: 10 });
      await Promise.all(narrow.map((client) => client.join('news:narrow')));
      const { frames, bytesRead } = await receiveAll(app, narrow, 'news:narrow');
      for (const received of frames) expectInOrder(received);
      for (const read of bytesRead) expect(read).toBeLessThan(textBytes / 10);
      await Promise.all(narrow.map((client) => client.close()));
    });

    it('sends plain frames to a client that asks for an 8-bit window, which zlib cannot make', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'tiny', rooms: ['news:*'] }), { perMessageDeflate: { serverMaxWindowBits: 8 } });
      expect(agreedDeflate(client)).toMatchObject({ server_max_window_bits: 8 });
      await client.join('news:tiny');
      const { frames, bytesRead } = await receiveAll(app, [client], 'news:tiny');
      expectInOrder(frames[0]);
      expect(bytesRead[0]).toBeGreaterThan(textBytes);
      await client.close();
    });

    it.each([
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=abc',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; foo=bar',
      ';;;,,,=',
    ])('declines a malformed offer (%s) and connects the client without compression (RFC 7692)', async (offer) => {
      const head = await upgradeOffering(app, offer);
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
      expect(head.toLowerCase()).not.toContain('sec-websocket-extensions');
    });

    it('accepts the well-formed offer that follows a malformed one', async () => {
      const head = await upgradeOffering(app, 'permessage-deflate; server_max_window_bits=99, permessage-deflate; client_max_window_bits');
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
      expect(head).toMatch(/^Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover/im);
    });

    it('replays history uncompressed (each replay is one socket\'s own, not a shared broadcast)', async () => {
      // The room carries history before the join: a message-less room's state (and so its seq)
      // would go with its last member.
      expect((await publish(app.url, { rooms: ['news:replay'], type: 'note', payload: { text: 'earlier' } })).status).toBe(202);
      const client = await connectClient(app.wsUrl, signToken({ sub: 'returning', rooms: ['news:*'] }), { perMessageDeflate: true });
      const joined = await client.join('news:replay');
      await client.close();
      for (const text of TEXTS) expect((await publish(app.url, { rooms: ['news:replay'], type: 'note', payload: { text } })).status).toBe(202);
      const back = await connectClient(app.wsUrl, signToken({ sub: 'returning', rooms: ['news:*'] }), { perMessageDeflate: true });
      const before = bytesReadBy(back);
      const rejoined = await back.join('news:replay', joined.data.seq);
      expect(rejoined.data).toMatchObject({ recovered: true, missed: TEXTS.length });
      const replayed: ServerFrame[] = [];
      for (let i = 0; i < TEXTS.length; i++) replayed.push(await back.next('notification'));
      expectInOrder(replayed);
      expect(bytesReadBy(back) - before).toBeGreaterThan(textBytes);
      // Live broadcasts after the rejoin are compressed again.
      const { frames, bytesRead } = await receiveAll(app, [back], 'news:replay');
      expectInOrder(frames[0]);
      expect(bytesRead[0]).toBeLessThan(textBytes / 10);
      await back.close();
    });
  });
});
