import { constants, inflateRawSync } from 'node:zlib';
import WebSocketLib, { type WebSocket } from 'ws';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { PreparedFrame, sendText, textFrame } from './prepared-frame';

/** Splits a final, unmasked server frame into its RSV1 bit and payload. */
function parse(frame: Buffer): { rsv1: boolean; payload: Buffer } {
  expect(frame[0] & 0x80).toBe(0x80); // FIN
  expect(frame[0] & 0x0f).toBe(1); // text
  expect(frame[1] & 0x80).toBe(0); // unmasked
  let length = frame[1] & 0x7f;
  let offset = 2;
  if (length === 126) [length, offset] = [frame.readUInt16BE(2), 4];
  else if (length === 127) [length, offset] = [Number(frame.readBigUInt64BE(2)), 10];
  expect(frame.length).toBe(offset + length);
  return { rsv1: (frame[0] & 0x40) !== 0, payload: frame.subarray(offset) };
}

describe('PreparedFrame', () => {
  const text = JSON.stringify({ event: 'notification', data: { text: 'herald '.repeat(500) } });

  it('frames the text once, uncompressed', () => {
    const frame = new PreparedFrame(text);
    const { rsv1, payload } = parse(frame.wire[0]);
    expect(rsv1).toBe(false);
    expect(payload.toString()).toBe(text);
  });

  it.each([15, 10, 9])('compresses it for a %i-bit window as RFC 7692 asks, once however many sockets take it', (windowBits) => {
    const frame = new PreparedFrame(text);
    const wire = frame.compressedWire(windowBits);
    expect(frame.compressedWire(windowBits)).toBe(wire);
    const { rsv1, payload } = parse(wire[0]);
    expect(rsv1).toBe(true);
    expect(payload.length).toBeLessThan(text.length / 10);
    // A receiver appends the 00 00 ff ff the sender left out, then inflates within the window.
    const inflated = inflateRawSync(Buffer.concat([payload, Buffer.from([0x00, 0x00, 0xff, 0xff])]), { windowBits, finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.toString()).toBe(text);
  });
});

describe('textFrame', () => {
  /**
   * What ws's own Sender writes to its socket for `ws.send(text)` (a server's: unmasked, no
   * extensions), captured from a stand-in socket that records every write, so the comparison
   * does not go through the framing helper textFrame itself uses.
   */
  const wsFrame = (text: string): Buffer => {
    const writes: Buffer[] = [];
    const socket = { cork: () => {}, uncork: () => {}, write: (chunk: Buffer | string) => writes.push(Buffer.from(chunk)) };
    const { Sender } = WebSocketLib as unknown as { Sender: new (socket: unknown, extensions: object) => { send(data: string, options: object): void } };
    new Sender(socket, {}).send(text, { binary: false, compress: false, fin: true, mask: false });
    return Buffer.concat(writes);
  };

  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 70_000])('writes what ws writes for %i bytes, around each length encoding', (length) => {
    const text = 'x'.repeat(length);
    expect(textFrame(text).equals(wsFrame(text))).toBe(true);
    expect(parse(textFrame(text)).payload.toString()).toBe(text);
  });

  it('counts the length in UTF-8 bytes, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        expect(textFrame(text).equals(wsFrame(text))).toBe(true);
      }),
      fuzzParameters(500),
    );
    const wide = 'é'.repeat(40_000); // 80,000 bytes: the 64-bit length
    expect(textFrame(wide).equals(wsFrame(wide))).toBe(true);
  });
});

describe('sendText', () => {
  const socketWith = (senderState: number) => {
    const written: Buffer[][] = [];
    const stream: { writableCorked: number; cork: jest.Mock; uncork: jest.Mock } = { writableCorked: 0, cork: jest.fn(() => stream.writableCorked++), uncork: jest.fn() };
    const sender = { _state: senderState, _queue: [], sendFrame: (wire: Buffer[]) => written.push(wire) };
    const socket = { _socket: stream, _sender: sender, send: jest.fn() } as unknown as WebSocket;
    return { socket, written, stream };
  };

  it('hands an idle Sender the whole frame in one Buffer, the socket corked for the turn', () => {
    const { socket, written, stream } = socketWith(0);
    sendText(socket, '{"event":"joined"}');
    expect(written).toHaveLength(1);
    expect(written[0]).toHaveLength(1);
    expect(parse(written[0][0]).payload.toString()).toBe('{"event":"joined"}');
    expect(stream.cork).toHaveBeenCalled();
    expect(socket.send).not.toHaveBeenCalled();
  });

  it('leaves the text to ws.send while the Sender is busy, so it queues behind the frame in progress', () => {
    const { socket, written } = socketWith(1);
    sendText(socket, '{"event":"joined"}');
    expect(written).toHaveLength(0);
    expect(socket.send).toHaveBeenCalledWith('{"event":"joined"}', { binary: false, compress: false });
  });
});
