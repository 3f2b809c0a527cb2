import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { BadRequestException, NotImplementedException, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { fuzzParameters } from '../../test/support/fuzz';
import { decodeContent, refuseTransferCodings } from './content-coding';

const body = Buffer.from(JSON.stringify({ users: ['alice'], type: 't', payload: { note: 'a body long enough to be cut in many places '.repeat(4) } }));
const LIMIT = 65_536;
const ENCODERS: ReadonlyArray<[string, (input: Buffer) => Buffer]> = [
  ['gzip', gzipSync],
  ['deflate', deflateSync],
  ['br', brotliCompressSync],
  ['zstd', zstdCompressSync],
];

/** A zstd skippable frame (RFC 8878, section 3.1.2): magic 0x184D2A5?, a length, that many bytes. */
const skippableFrame = (content: Buffer) => Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from(Uint32Array.of(content.length).buffer), content]);

function refusal(encoded: Buffer, coding: string, limitBytes = LIMIT): unknown {
  try {
    decodeContent(encoded, coding, limitBytes);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('decodeContent', () => {
  describe.each(ENCODERS)('%s', (coding, encode) => {
    it('reads the whole stream', () => {
      expect(decodeContent(encode(body), coding, LIMIT)).toEqual(body);
    });

    it('refuses a stream cut short anywhere, rather than reading the part that came (property)', () => {
      const encoded = encode(body);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: encoded.length - 1 }), (length) => {
          const error = refusal(encoded.subarray(0, length), coding);
          expect(error).toBeInstanceOf(BadRequestException);
          expect((error as Error).message).toMatch(`The body is not valid ${coding} data`);
        }),
        fuzzParameters(200),
      );
    });

    it.each([
      ['text', Buffer.from('GARBAGE')],
      ['a zero byte', Buffer.from([0])],
      ['the stream again, cut short', encode(body).subarray(0, 10)],
    ])('refuses a stream followed by %s', (_, trailing) => {
      expect(refusal(Buffer.concat([encode(body), trailing]), coding)).toBeInstanceOf(BadRequestException);
    });

    it('stops inflating at the limit: 413, however small the body compressed', () => {
      const bomb = encode(Buffer.alloc(16 * 1024 * 1024, 0x20));
      expect(bomb.length).toBeLessThan(LIMIT);
      expect(refusal(bomb, coding)).toBeInstanceOf(PayloadTooLargeException);
      expect(decodeContent(encode(body), coding, body.length)).toEqual(body);
      expect(refusal(encode(body), coding, body.length - 1)).toBeInstanceOf(PayloadTooLargeException);
    });
  });

  it.each([
    ['gzip', 'members', gzipSync],
    ['zstd', 'frames', zstdCompressSync],
  ])('reads every one of several %s %s, one after the other', (coding, _, encode) => {
    const parts = [body.subarray(0, 30), body.subarray(30, 31), Buffer.alloc(0), body.subarray(31)];
    expect(decodeContent(Buffer.concat(parts.map((part) => encode(part))), coding, LIMIT)).toEqual(body);
  });

  it('passes over zstd skippable frames, and counts every frame against the limit', () => {
    const framed = Buffer.concat([skippableFrame(Buffer.from('meta')), zstdCompressSync(body.subarray(0, 50)), skippableFrame(Buffer.alloc(0)), zstdCompressSync(body.subarray(50))]);
    expect(decodeContent(framed, 'zstd', LIMIT)).toEqual(body);
    const many = Buffer.concat(Array.from({ length: 5 }, () => zstdCompressSync(Buffer.alloc(20_000, 0x20))));
    expect(refusal(many, 'zstd')).toBeInstanceOf(PayloadTooLargeException);
  });

  it('refuses an empty body, which holds no stream, in every coding', () => {
    for (const [coding] of ENCODERS) expect(refusal(Buffer.alloc(0), coding)).toBeInstanceOf(BadRequestException);
  });

  it('reads x-gzip as gzip, whatever the case, and refuses a coding it does not know with 415', () => {
    expect(decodeContent(gzipSync(body), ' X-GZIP ', LIMIT)).toEqual(body);
    expect(decodeContent(body, undefined, LIMIT)).toBe(body);
    expect(decodeContent(body, 'Identity', LIMIT)).toBe(body);
    expect(refusal(body, 'compress')).toBeInstanceOf(UnsupportedMediaTypeException);
  });
});

describe('refuseTransferCodings', () => {
  it.each([undefined, 'chunked', 'Chunked', ' chunked '])('lets a body with Transfer-Encoding %j through', (header) => {
    expect(() => refuseTransferCodings(header)).not.toThrow();
  });

  it.each([
    ['gzip, chunked', 'gzip'],
    ['x-gzip,chunked', 'x-gzip'],
    ['Deflate , Chunked', 'deflate'],
    ['identity, chunked', 'identity'],
    ['chunked, foo, chunked', 'foo'],
  ])('answers Transfer-Encoding %j 501, naming %s', (header, coding) => {
    expect(() => refuseTransferCodings(header)).toThrow(NotImplementedException);
    expect(() => refuseTransferCodings(header)).toThrow(`unsupported transfer coding "${coding}" (Transfer-Encoding)`);
  });
});
