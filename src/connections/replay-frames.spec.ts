import type { Publication } from '../broker/broker';
import { ReplayFrames } from './replay-frames';
import { deliveryFrame } from './server-frame';

const publication = (seq: string): Publication => ({
  kind: 'publication',
  room: 'chat:storm',
  seq,
  event: 'message',
  body: `{"room":"chat:storm","text":"hi"}`,
  publishedAtMs: 0,
});
/** A turn of the event loop: what setImmediate scheduled has run. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplayFrames', () => {
  it('frames a publication as a delivery would, header and payload ready to write', () => {
    const first = publication('0000000001-0000000000000001');
    const frame = new ReplayFrames().of(first);
    const text = deliveryFrame(first);
    expect(frame.payload.toString()).toBe(text);
    // FIN + text opcode, unmasked, the payload's length (under 126: in the second byte), then the payload.
    expect(text.length).toBeLessThan(126);
    expect([...frame.wire[0].subarray(0, 2)]).toEqual([0x81, text.length]);
    expect(frame.wire[0].subarray(2).toString()).toBe(text);
  });

  it('builds a publication\'s frame once for every join of a turn, whichever history read handed it out', () => {
    const frames = new ReplayFrames();
    const [first, second] = [publication('0000000001-0000000000000001'), publication('0000000001-0000000000000002')];
    const shared = frames.of(first);
    expect(frames.of(first)).toBe(shared);
    expect(frames.of(second)).not.toBe(shared);
    // The same publication in another object (another history read of the room): the same frame.
    expect(frames.of({ ...first })).toBe(shared);
  });

  it('shares a frame\'s bytes with a replay in a later turn while a send buffer still holds them', async () => {
    const frames = new ReplayFrames();
    const first = publication('0000000001-0000000000000001');
    // What a socket that does not read holds: the frame's wire.
    const inSendBuffer = frames.of(first).wire[0];
    await nextTurn();
    const later = frames.of({ ...first });
    expect(later.wire[0]).toBe(inSendBuffer);
    expect(later.payload.toString()).toBe(deliveryFrame(first));
  });

  it('keeps no frame of its own once the turn is over, only weak references to bytes sockets hold', async () => {
    const frames = new ReplayFrames();
    frames.of(publication('0000000001-0000000000000001'));
    await nextTurn();
    expect((frames as unknown as { frames: Map<string, unknown> }).frames.size).toBe(0);
    const held = (frames as unknown as { held: Map<string, WeakRef<Buffer>> }).held;
    expect([...held.values()].every((reference) => reference instanceof WeakRef)).toBe(true);
  });
});
