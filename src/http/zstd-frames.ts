/**
 * Where each zstd frame of a body ends (RFC 8878, section 3.1), read from the frames' headers
 * and block headers alone. Node's zstd decoder reads the first frame and stops: it ignores the
 * frames after it, and answers an empty or cut-off frame with whatever it decoded, without an
 * error. Walking the frames first lets the caller decode each whole frame and refuse a body
 * that ends inside one. Returns the offsets just past each frame in order, or a reason the body
 * is not a sequence of whole frames.
 */
export function zstdFrameEnds(bytes: Uint8Array): number[] | string {
  const ends: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = frameEnd(bytes, at);
    if (typeof end === 'string') return `${end} (frame ${ends.length + 1}, at byte ${at})`;
    ends.push(end);
    at = end;
  }
  return ends.length > 0 ? ends : 'no frame';
}

/** Whether the frame starting at `start` is a skippable one, which carries no content (RFC 8878, section 3.1.2). */
export function isSkippableFrame(bytes: Uint8Array, start: number): boolean {
  return start + 4 <= bytes.length && (readUint32(bytes, start) & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC;
}

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50;
const SKIPPABLE_MASK = 0xfffffff0;
const DICTIONARY_ID_BYTES = [0, 1, 2, 4];
const BLOCK_HEADER_BYTES = 3;
const CHECKSUM_BYTES = 4;
const RLE_BLOCK = 1;
const RESERVED_BLOCK = 3;

function frameEnd(bytes: Uint8Array, start: number): number | string {
  if (start + 4 > bytes.length) return 'the body ends inside a frame';
  if (isSkippableFrame(bytes, start)) return within(bytes, start + 8 <= bytes.length ? start + 8 + readUint32(bytes, start + 4) : Infinity);
  if (readUint32(bytes, start) !== FRAME_MAGIC) return 'not a zstd frame';
  if (start + 5 > bytes.length) return 'the body ends inside a frame';
  const descriptor = bytes[start + 4];
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  if ((descriptor >> 3) & 1) return 'a reserved bit is set';
  const hasChecksum = (descriptor >> 2) & 1;
  const contentSizeBytes = [singleSegment, 2, 4, 8][contentSizeFlag];
  let at = start + 5 + (singleSegment ? 0 : 1) + DICTIONARY_ID_BYTES[descriptor & 3] + contentSizeBytes;
  for (let last = false; !last; ) {
    if (at + BLOCK_HEADER_BYTES > bytes.length) return 'the body ends inside a frame';
    const header = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
    last = (header & 1) === 1;
    const type = (header >> 1) & 3;
    if (type === RESERVED_BLOCK) return 'a block of the reserved type';
    at += BLOCK_HEADER_BYTES + (type === RLE_BLOCK ? 1 : header >>> 3);
  }
  return within(bytes, at + (hasChecksum ? CHECKSUM_BYTES : 0));
}

function within(bytes: Uint8Array, end: number): number | string {
  return end <= bytes.length ? end : 'the body ends inside a frame';
}

function readUint32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}
