import { constants, inflateRawSync } from 'node:zlib';
import { PreparedFrame } from './prepared-frame';

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
