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

  it('builds a publication\'s frame once for every join of a turn, and again in a later turn', async () => {
    const frames = new ReplayFrames();
    const [first, second] = [publication('0000000001-0000000000000001'), publication('0000000001-0000000000000002')];
    const shared = frames.of(first);
    expect(frames.of(first)).toBe(shared);
    expect(frames.of(second)).not.toBe(shared);
    // The same content in another object (another history read) is framed on its own.
    expect(frames.of({ ...first })).not.toBe(shared);
    await nextTurn();
    const later = frames.of(first);
    expect(later).not.toBe(shared);
    expect(later.wire[0].equals(shared.wire[0])).toBe(true);
  });

  it('keeps nothing once the turn is over', async () => {
    const frames = new ReplayFrames();
    frames.of(publication('0000000001-0000000000000001'));
    await nextTurn();
    expect((frames as unknown as { frames: Map<Publication, unknown> }).frames.size).toBe(0);
  });
});
