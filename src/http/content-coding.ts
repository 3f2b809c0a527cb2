import zlib from 'node:zlib';
import { BadRequestException, NotImplementedException, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { isSkippableFrame, zstdFrameEnds } from './zstd-frames';

/** What zlib's one-shot decoders return with `info: true`: the output and how much input they read. */
interface Decoded {
  buffer: Buffer;
  engine: { bytesWritten: number };
}
type Decoder = (body: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions & { info: true }) => Decoded;

const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: Decoder }).zstdDecompressSync;

/**
 * The Content-Encodings a body may come in (zstd where Node has it), x-gzip read as gzip
 * (contentCoding); anything else is a 415. gzip reads every member of a multi-member body
 * itself; zstd's decoder reads one frame, so decodeZstd walks them.
 */
const DECODERS: Readonly<Record<string, (body: Buffer, limitBytes: number) => Buffer>> = {
  gzip: (body, limitBytes) => decodeWhole(zlib.gunzipSync as unknown as Decoder, body, limitBytes),
  deflate: (body, limitBytes) => decodeWhole(zlib.inflateSync as unknown as Decoder, body, limitBytes),
  br: (body, limitBytes) => decodeWhole(zlib.brotliDecompressSync as unknown as Decoder, body, limitBytes),
  ...(zstdDecompressSync ? { zstd: (body: Buffer, limitBytes: number) => decodeZstd(zstdDecompressSync, body, limitBytes) } : {}),
};

/**
 * The body as sent before its Content-Encoding, whole: every gzip member and zstd frame, and
 * nothing after the last (a body cut short or followed by other bytes is a 400, as is an empty
 * one, which holds no stream). At most `limitBytes` once inflated, and never inflated further
 * than that (413 above): the size limits count the compressed bytes, and a few KiB of gzip can
 * inflate to gigabytes.
 */
export function decodeContent(body: Buffer, contentEncoding: string | undefined, limitBytes: number): Buffer {
  const coding = contentCoding(contentEncoding);
  if (coding === 'identity') return body;
  const decode = DECODERS[coding];
  if (!decode) throw unreadableContentCoding(coding);
  try {
    return decode(body, limitBytes);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw new PayloadTooLargeException('request entity too large');
    throw new BadRequestException(`The body is not valid ${coding} data, as its Content-Encoding says (${(error as Error).message})`);
  }
}

/**
 * What the headers alone say of a body Herald cannot read: 415 for a Content-Encoding it has no
 * decoder for, 501 for a transfer coding other than chunked (refuseTransferCodings). Asked
 * before the body is read (refuseUnreadableBodies), so a client that sent `Expect:
 * 100-continue` is not asked for a body that would be refused (decodeContent refuses the same
 * Content-Encoding as it decodes, as it has no decoder for it).
 */
export function refuseUnreadableCodings(contentEncoding: string | undefined, transferEncoding: string | undefined): void {
  refuseTransferCodings(transferEncoding);
  const coding = contentCoding(contentEncoding);
  if (coding !== 'identity' && !DECODERS[coding]) throw unreadableContentCoding(coding);
}

function unreadableContentCoding(coding: string): UnsupportedMediaTypeException {
  return new UnsupportedMediaTypeException(`unsupported content encoding "${coding}"`);
}

/**
 * 501 for a body sent in a transfer coding other than chunked (`Transfer-Encoding: gzip,
 * chunked`): Node takes such a body apart by its chunks and hands on the bytes still gzipped, so
 * a gzipped body was answered 400 `not valid UTF-8`, and a plain one declared gzipped was
 * published as if it had not been. RFC 9112, section 6.1: a server that receives a transfer
 * coding it does not understand should answer 501. (Node itself refuses a body whose last coding
 * is not chunked: its length could not be known.)
 */
export function refuseTransferCodings(transferEncoding: string | undefined): void {
  if (transferEncoding === undefined) return;
  const other = transferCodings(transferEncoding).find((coding) => coding !== 'chunked' && coding !== '');
  if (other !== undefined) {
    throw new NotImplementedException(`unsupported transfer coding "${other}" (Transfer-Encoding): only chunked is read; send a compressed body with Content-Encoding`);
  }
}

/** The coding a Content-Encoding names, in lower case; x-gzip is gzip (RFC 9110, section 8.4.1.3: a recipient should read it so). */
export function contentCoding(header: string | undefined): string {
  const coding = (header ?? 'identity').trim().toLowerCase() || 'identity';
  return coding === 'x-gzip' ? 'gzip' : coding;
}

/**
 * One decoder's stream, which must take up the whole body: zlib stops at the end of a deflate or
 * brotli stream (and of gzip members followed by zero bytes) and says nothing of what follows.
 */
function decodeWhole(decode: Decoder, body: Buffer, limitBytes: number): Buffer {
  const { buffer, engine } = decode(body, { maxOutputLength: limitBytes, info: true });
  if (engine.bytesWritten !== body.length) throw new Error(`${body.length - engine.bytesWritten} bytes follow the end of the stream`);
  return buffer;
}

/** Every frame of a zstd body, each decoded within what the limit leaves. */
function decodeZstd(decode: Decoder, body: Buffer, limitBytes: number): Buffer {
  const ends = zstdFrameEnds(body);
  if (typeof ends === 'string') throw new Error(ends);
  const parts: Buffer[] = [];
  let inflatedBytes = 0;
  let start = 0;
  for (const [index, end] of ends.entries()) {
    if (!isSkippableFrame(body, start)) {
      // maxOutputLength must be positive: a frame past an exactly full limit inflates one byte, then fails.
      const { buffer, engine } = decode(body.subarray(start, end), { maxOutputLength: Math.max(1, limitBytes - inflatedBytes), info: true });
      if (engine.bytesWritten !== end - start) throw new Error(`frame ${index + 1} does not decode to its end`);
      inflatedBytes += buffer.length;
      if (inflatedBytes > limitBytes) throw Object.assign(new Error('too large'), { code: 'ERR_BUFFER_TOO_LARGE' });
      parts.push(buffer);
    }
    start = end;
  }
  return Buffer.concat(parts, inflatedBytes);
}

/**
 * The codings a Transfer-Encoding names, in order, trimmed and lower-cased (Node joins several
 * such headers with commas); an empty one where the header has an empty list element.
 */
export function transferCodings(transferEncoding: string): string[] {
  return transferEncoding.split(',').map((coding) => coding.trim().toLowerCase());
}
