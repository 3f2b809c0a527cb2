import { isUtf8 } from 'node:buffer';
import type { RawData } from 'ws';
import { FrameId } from '@herald/client/protocol';
import { topLevelNumberSource, topLevelScalarSource } from '../parsing/json-number-source';
import { jsonShapeOf } from '../parsing/json-values';

export type ParsedFrame =
  | { ok: true; event: string; data: object; id: FrameId | undefined }
  | { ok: false; problem: string; event: string | undefined; id: FrameId | undefined };

/**
 * Section 2: `{"event": string, "data"?: object, "id"?: string | number}`, as one JSON text
 * frame nested at most `maxDepth` levels (the frame object itself is level 1). A frame nested
 * deeper is refused here, with its id echoed, so nothing downstream (class-transformer, the
 * validators) ever recurses over it.
 */
export function parseFrame(raw: RawData, isBinary: boolean, maxDepth: number): ParsedFrame {
  const bytes = bytesOf(raw);
  // ws leaves UTF-8 to us (skipUTF8Validation, HeraldWsAdapter): a text frame that is not UTF-8
  // is a malformed frame like any other (section 2), answered bad_request, where RFC 6455 has the
  // connection failed with 1007. Checked before decoding, which would quietly put U+FFFD in.
  // Either refusal is decided by now; the frame is still read for an id to echo (section 2).
  const unreadable = isBinary ? BINARY_FRAME : isUtf8(bytes) ? undefined : NOT_UTF8;
  const shape = jsonShapeOf(bytes, FRAME_VALUES_MAX, maxDepth);
  if (shape === 'too many values') return tooManyValues(bytes, unreadable);
  let frame: unknown;
  try {
    // V8's JSON.parse does not recurse, so even a hostile frame parses in linear time; only
    // what runs after it must not see one nested too deeply.
    frame = JSON.parse(bytes.toString());
  } catch {
    return { ok: false, problem: unreadable ?? 'Frame is not valid JSON', event: undefined, id: undefined };
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    return { ok: false, problem: unreadable ?? 'Frame must be a JSON object', event: undefined, id: undefined };
  }
  const { event, data, id } = frame as { event?: unknown; data?: unknown; id?: unknown };
  const validId = echoedId(bytes, id);
  const eventName = typeof event === 'string' ? event : undefined;
  if (unreadable !== undefined) return { ok: false, problem: unreadable, event: eventName, id: validId };
  if (id !== undefined && validId === undefined) return { ok: false, problem: 'id must be a string or a number', event: eventName, id: undefined };
  if (eventName === undefined) return { ok: false, problem: 'event must be a string', event: undefined, id: validId };
  if (shape === 'too deep') return { ok: false, problem: `Frame is nested deeper than ${maxDepth} levels`, event: eventName, id: validId };
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    return { ok: false, problem: 'data must be an object', event: eventName, id: validId };
  }
  return { ok: true, event: eventName, data: (data as object | undefined) ?? {}, id: validId };
}

/**
 * The most members and list elements a frame may hold in all (jsonShapeOf), checked before
 * it is parsed. No event has more than a few fields, each a string, so only a frame that would be
 * refused anyway holds more; parsed, 20 connections of one user sending 5,000-member frames
 * within the rate limit held a pod's event loop for seconds at a time. Room enough for members of
 * the frame object a later client may add (section 2 ignores them).
 */
export const FRAME_VALUES_MAX = 64;

/** The refusal of a frame holding more than FRAME_VALUES_MAX values, echoing the event and id read off its bytes. */
function tooManyValues(bytes: Buffer, unreadable: string | undefined): ParsedFrame {
  const event = scalarAt(bytes, 'event');
  const problem = unreadable ?? `Frame holds more than ${FRAME_VALUES_MAX} members and list elements; no event has more than a few fields`;
  return { ok: false, problem, event: typeof event === 'string' ? event : undefined, id: echoedId(bytes, scalarAt(bytes, 'id')) };
}

/** The string or number at a top-level key, read without parsing the frame; undefined when there is none. */
function scalarAt(bytes: Buffer, key: string): unknown {
  const source = topLevelScalarSource(bytes, key);
  if (source === undefined) return undefined;
  try {
    return JSON.parse(source);
  } catch {
    return undefined;
  }
}

const BINARY_FRAME = 'Frames must be JSON text frames';
const NOT_UTF8 = 'Frame is not valid UTF-8 text';

/** JSON.rawJSON (ES2026, in Node 24's V8; TypeScript's ES2023 lib lacks it). */
const json = JSON as JSON & { rawJSON(text: string): object };

/**
 * The id a reply echoes for the frame's top-level `id` as parsed: a string as it is, a number as
 * it was written unless it was a plain safe integer (numberAsWritten); undefined for anything
 * else. Section 2 promises the reply "the same id", and a double does not hold every number
 * exactly (a 30-digit integer, 1e999, 1e-400, which parses to 0, or 1.0000000000000000001, to 1),
 * nor does JSON.stringify write -0 back; a client with exact numbers (Python, Go's json.Number)
 * would otherwise never match its reply. Read off the bytes without recursing: a second parse
 * with a reviver did, and a 5 KB frame 2,500 levels deep with an id of 1.5 overflowed the stack.
 */
function echoedId(bytes: Buffer, id: unknown): FrameId | undefined {
  if (typeof id === 'string') return id;
  if (typeof id !== 'number') return undefined;
  return numberAsWritten(bytes, id) ?? (Number.isFinite(id) ? id : undefined);
}

/**
 * The frame's top-level `id` as its source text, for JSON.stringify to write back unchanged
 * (a raw JSON value: typed as FrameId, which it serializes as), unless `parsed`, the number
 * JSON.parse made of it, already is: a safe integer written as plain digits.
 */
function numberAsWritten(bytes: Buffer, parsed: number): FrameId | undefined {
  const source = topLevelNumberSource(bytes, 'id');
  if (source === undefined || (Number.isSafeInteger(parsed) && PLAIN_INTEGER.test(source) && !Object.is(parsed, -0))) return undefined;
  return json.rawJSON(source) as unknown as FrameId;
}

/** An integer written as digits alone: a safe one is echoed by JSON.stringify in the same characters. */
const PLAIN_INTEGER = /^-?(0|[1-9]\d*)$/;

/** ws hands a text message over as one Buffer (fragmented ones as an array of them). */
function bytesOf(raw: RawData): Buffer {
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return raw instanceof ArrayBuffer ? Buffer.from(raw) : raw;
}
