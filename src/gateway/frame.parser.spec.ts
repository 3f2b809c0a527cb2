import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { anyFrame, contractParse, FrameSpec, renderFrame } from '../../test/support/frame-arbitraries';
import { FRAME_VALUES_MAX, parseFrame } from './frame.parser';

const text = (value: string) => Buffer.from(value);

describe('parseFrame', () => {
  it('accepts an event with object data and a string or numeric id', () => {
    expect(parseFrame(text('{"event":"join","data":{"room":"a"},"id":"x"}'), false, 32)).toEqual({ ok: true, event: 'join', data: { room: 'a' }, id: 'x' });
    expect(parseFrame(text('{"event":"ping","id":7}'), false, 32)).toEqual({ ok: true, event: 'ping', data: {}, id: 7 });
  });

  it.each([
    ['binary frames', '{"event":"ping"}', true, 'ping', undefined],
    ['binary frames, echoing their id', '{"event":"ping","id":"b"}', true, 'ping', 'b'],
    ['binary frames that are no JSON', '\u0000\u0001', true, undefined, undefined],
    ['invalid JSON', '{', false, undefined, undefined],
    ['arrays', '[]', false, undefined, undefined],
    ['null', 'null', false, undefined, undefined],
    ['a missing event', '{"id":"k"}', false, undefined, 'k'],
    ['a non-object data', '{"event":"join","data":[1],"id":"k"}', false, 'join', 'k'],
    ['an object id', '{"event":"ping","id":{}}', false, 'ping', undefined],
  ])('refuses %s, keeping what it can echo', (_, raw, isBinary, event, id) => {
    const parsed = parseFrame(text(raw), isBinary, 32);
    expect(parsed).toMatchObject({ ok: false, problem: expect.any(String) });
    expect(parsed.event).toBe(event);
    expect(parsed.id).toBe(id);
  });
});

describe('parseFrame on a frame holding more than FRAME_VALUES_MAX members and elements', () => {
  const members = (count: number) => Array.from({ length: count }, (_, i) => `"k${i}":1`).join(',');
  const tooMany = `Frame holds more than ${FRAME_VALUES_MAX} members and list elements; no event has more than a few fields`;

  it('refuses it before parsing, echoing the event and the id read off its bytes, however the id is written', () => {
    for (const [id, echoed] of [['"j-1"', 'j-1'], ['7', 7], ['"caf\u00e9 ☕"', 'café ☕']] as const) {
      expect(parseFrame(text(`{"event":"join","id":${id},"data":{${members(5000)}}}`), false, 32)).toEqual({ ok: false, problem: tooMany, event: 'join', id: echoed });
    }
    const huge = parseFrame(text(`{"id":1e999,"event":"ping",${members(100)}}`), false, 32);
    expect(JSON.stringify({ id: huge.id })).toBe('{"id":1e999}');
    // A list counts its elements.
    expect(parseFrame(text(`{"event":"leave","data":{"room":[${'1,'.repeat(FRAME_VALUES_MAX)}1]}}`), false, 32)).toMatchObject({ ok: false, problem: tooMany, event: 'leave' });
    // Not UTF-8 says so first, as it does for any frame.
    expect(parseFrame(Buffer.concat([text(`{"event":"ping","a":"\u0000`), Buffer.from([0xff]), text(`",${members(100)}}`)]), false, 32)).toMatchObject({ problem: 'Frame is not valid UTF-8 text', event: 'ping' });
  });

  it('takes a frame of exactly FRAME_VALUES_MAX, its members besides event, data and id ignored', () => {
    // event, data, its room and id: 4.
    const frame = `{"event":"join","data":{"room":"a"},"id":"x",${members(FRAME_VALUES_MAX - 4)}}`;
    expect(parseFrame(text(frame), false, 32)).toEqual({ ok: true, event: 'join', data: { room: 'a' }, id: 'x' });
    expect(parseFrame(text(frame.replace(/}$/, ',"one":"more"}')), false, 32)).toMatchObject({ ok: false, problem: tooMany });
  });
});

describe('parseFrame on text that is not UTF-8', () => {
  /** The frame's text with `bytes` put where `@` is. */
  const withBytes = (frame: string, bytes: number[]) => Buffer.concat([Buffer.from(frame.slice(0, frame.indexOf('@'))), Buffer.from(bytes), Buffer.from(frame.slice(frame.indexOf('@') + 1))]);

  it.each([
    ['a byte that never occurs', [0xff]],
    ['a sequence cut short', [0xe2, 0x82]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a surrogate encoded', [0xed, 0xa0, 0x80]],
  ])('refuses %s inside a string, naming the problem and echoing the event and id, where decoding would have put U+FFFD in', (_, bytes) => {
    const parsed = parseFrame(withBytes('{"event":"message","data":{"room":"chat:a","text":"a@b"},"id":"u1"}', bytes), false, 32);
    expect(parsed).toEqual({ ok: false, problem: 'Frame is not valid UTF-8 text', event: 'message', id: 'u1' });
  });

  it('refuses bytes that are neither UTF-8 nor JSON as not UTF-8', () => {
    expect(parseFrame(Buffer.from([0xff, 0xfe]), false, 32)).toEqual({ ok: false, problem: 'Frame is not valid UTF-8 text', event: undefined, id: undefined });
  });
});

describe('parseFrame ids a double does not hold', () => {
  /** The reply's text for a parsed frame's id, as serverFrame writes it. */
  const echoed = (raw: string) => {
    const parsed = parseFrame(text(raw), false, 32);
    return JSON.stringify({ event: 'pong', id: parsed.id });
  };

  it.each(['123456789012345678901234567890', '1e999', '-1e999', '9007199254740993', '0.1000000000000000055511151231257827', '-0', '1.50', '1e-400', '-1e-400', '1.0000000000000000001', '1E2', '100.0', '0.0'])('echoes %s as written', (id) => {
    expect(echoed(`{"event":"ping","data":{"id":1},"id":${id}}`)).toBe(`{"event":"pong","id":${id}}`);
    // The top-level id, wherever it stands and whatever `data` holds.
    expect(echoed(`{"id":${id},"event":"ping","data":{"id":2e400,"x":{"id":3}}}`)).toBe(`{"event":"pong","id":${id}}`);
  });

  it.each(['1.5', '-0', '1e999', '9007199254740993'])('refuses a frame 100,000 levels deep with id %s, echoing the id as written, without recursing over it', (id) => {
    const deep = `{"event":"ping","id":${id},"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const parsed = parseFrame(text(deep), false, 32);
    expect(parsed).toMatchObject({ ok: false, problem: 'Frame is nested deeper than 32 levels', event: 'ping' });
    expect(JSON.stringify({ id: parsed.id })).toBe(`{"id":${id}}`);
  });

  it('keeps safe integers and strings as parsed values', () => {
    for (const id of [9007199254740991, -9007199254740991, 0, 7]) expect(parseFrame(text(`{"event":"ping","id":${id}}`), false, 32).id).toBe(id);
    expect(parseFrame(text('{"event":"ping","id":"1e999"}'), false, 32).id).toBe('1e999');
  });
});

/** An id as a client reads it back from the reply (a raw JSON number is written as its text). */
function asReadBack(parsed: ReturnType<typeof parseFrame>): ReturnType<typeof parseFrame> {
  return parsed.id === undefined ? parsed : { ...parsed, id: JSON.parse(JSON.stringify(parsed.id)) as string | number };
}

describe('parseFrame (properties)', () => {
  const tokens = fc.oneof(fc.string(), fc.constant('a.b.c'));
  const asText = (frame: FrameSpec): string => (frame.kind === 'frame' ? renderFrame(frame) : frame.kind === 'text' ? frame.text : '');

  it('never throws, and refuses exactly what section 2 refuses, echoing what it can', () => {
    fc.assert(
      fc.property(anyFrame(tokens), fc.integer({ min: 2, max: 40 }), (frame, maxDepth) => {
        const parsed = asReadBack(frame.kind === 'binary' ? parseFrame(Buffer.from(frame.bytes), true, maxDepth) : parseFrame(text(asText(frame)), false, maxDepth));
        const expected = contractParse(frame.kind === 'binary' ? { binary: frame.bytes } : { text: asText(frame) }, maxDepth);
        if (parsed.ok) expect(parsed).toEqual(expected);
        else expect(parsed).toEqual({ ...expected, problem: expect.any(String) });
      }),
      fuzzParameters(1000),
    );
  });

  it('reads the same frame from one buffer, an ArrayBuffer or fragments', () => {
    fc.assert(
      fc.property(anyFrame(tokens), fc.nat(), (frame, cut) => {
        const bytes = text(asText(frame));
        const at = bytes.length === 0 ? 0 : cut % bytes.length;
        const whole = parseFrame(bytes, false, 32);
        const arrayBuffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
        expect(parseFrame(arrayBuffer, false, 32)).toEqual(whole);
        expect(parseFrame([bytes.subarray(0, at), bytes.subarray(at)], false, 32)).toEqual(whole);
      }),
      fuzzParameters(300),
    );
  });

  it('never throws on arbitrary bytes, text or binary', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), fc.boolean(), (bytes, isBinary) => {
        const parsed = parseFrame(Buffer.from(bytes), isBinary, 32);
        expect(typeof parsed.ok).toBe('boolean');
        if (isBinary || !isUtf8(Buffer.from(bytes))) expect(parsed.ok).toBe(false);
      }),
      fuzzParameters(500),
    );
  });
});
