import fc from 'fast-check';
import { CLIENT_EVENTS, FrameId, MESSAGE_TEXT_MAX_CHARS } from '@herald/client/protocol';
import { FRAME_VALUES_MAX } from '../../src/gateway/frame.parser';
import { anyJsonValue, depthOf, mutatedObject, trickyString, valueCountOf } from './json-arbitraries';

/** A frame id as the client writes it: a string, a number (JSON text), or something that is not an id. */
export type IdSpec = { kind: 'string'; value: string } | { kind: 'number'; text: string } | { kind: 'other'; text: string };

/** A string id thousands of characters long, kept short in counterexamples. */
const longId = (length: number) => 'i'.repeat(length);

/**
 * What a fuzzed client sends: a binary message, any text, or a frame-shaped object whose fields
 * are each left out, right, wrong in type, or hostile (deep, huge, unknown keys).
 */
export type FrameSpec =
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'text'; text: string }
  | { kind: 'frame'; event?: unknown; data?: unknown; id?: IdSpec; extra: [string, unknown][] };

const ABSENT = Symbol('absent');
const optional = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | typeof ABSENT> => fc.oneof({ arbitrary: fc.constant(ABSENT), weight: 1 }, { arbitrary, weight: 4 });

export const idSpec: fc.Arbitrary<IdSpec> = fc.oneof(
  trickyString.map((value) => ({ kind: 'string' as const, value })),
  fc.integer({ min: 1000, max: 20_000 }).map((length) => ({ kind: 'string' as const, value: longId(length), [fc.toStringMethod]: () => `{kind:'string',value:'i'.repeat(${length})}` })),
  fc
    .oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, 1e21))
    .map((value) => ({ kind: 'number' as const, text: JSON.stringify(value) })),
  // Numbers JSON.stringify never writes: overflowing to Infinity, negative zero, 400 digits.
  fc.constantFrom('1e999', '-1e999', '-0', '0.0000e-9999', '9'.repeat(400)).map((text) => ({ kind: 'number' as const, text })),
  fc.oneof(fc.constant(null), fc.boolean(), fc.array(fc.jsonValue(), { maxLength: 3 }), fc.dictionary(trickyString, fc.jsonValue(), { maxKeys: 3 })).map((value) => ({ kind: 'other' as const, text: JSON.stringify(value) })),
);

/** Room names: valid ones the fuzz user may or may not join, and invalid ones. */
export const roomName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('public:lobby', 'public:fuzz', 'user:fuzz', 'user:other', 'chat:1', 'team:42', 'secret', '', 'a'.repeat(128), 'public:' + 'a'.repeat(122), 'public:' + 'a'.repeat(200)),
  fc.stringMatching(/^(public:)?[A-Za-z0-9_.:-]{1,20}$/),
  trickyString,
);

/** Data shaped like each client event's, before mutation. */
function eventData(tokens: fc.Arbitrary<string>): Record<string, fc.Arbitrary<Record<string, unknown> | undefined>> {
  return {
    join: fc.record({ room: roomName, since: fc.oneof(fc.stringMatching(/^[0-9a-z]{1,12}-\d{1,15}$/), trickyString, fc.constant('x'.repeat(65))) }, { requiredKeys: ['room'] }),
    leave: fc.record({ room: roomName }),
    message: fc.record({
      room: roomName,
      text: fc.oneof(fc.string({ minLength: 1 }), trickyString, fc.constantFrom('', 'x'.repeat(MESSAGE_TEXT_MAX_CHARS), 'x'.repeat(MESSAGE_TEXT_MAX_CHARS + 1))),
    }),
    refresh: fc.record({ token: tokens }),
    ping: fc.constant(undefined),
    pong: fc.constant(undefined),
  };
}

/** Frames made from each client event's own shape, mutated; `tokens` feeds refresh. */
export function structuredFrame(tokens: fc.Arbitrary<string>): fc.Arbitrary<FrameSpec> {
  const shapes = eventData(tokens);
  const known = fc.constantFrom(...CLIENT_EVENTS).chain((event) => fc.tuple(fc.constant<unknown>(event), optional(mutatedObject(shapes[event]))));
  const unknown = fc.tuple(fc.oneof(trickyString, anyJsonValue), optional(fc.oneof(anyJsonValue, fc.dictionary(trickyString, anyJsonValue, { maxKeys: 4 }))));
  return fc
    .tuple(fc.oneof({ arbitrary: known, weight: 4 }, { arbitrary: unknown, weight: 1 }), optional(idSpec), fc.array(fc.tuple(trickyString, anyJsonValue), { maxLength: 2 }), fc.boolean())
    .map(([[event, data], id, extra, eventAbsent]) => ({
      kind: 'frame' as const,
      ...(eventAbsent && extra.length > 0 ? {} : { event }), // sometimes no event at all
      ...(data === ABSENT || data === undefined ? {} : { data }),
      ...(id === ABSENT ? {} : { id }),
      // Extra top-level keys are ignored by the contract; never `event`, `data` or `id`, which they would overwrite.
      // Each key once: a repeated key would hide its first value's depth from the oracle.
      extra: extra.filter(([key], index) => !['event', 'data', 'id'].includes(key) && extra.findIndex(([other]) => other === key) === index),
    }));
}

/** Every kind of message a client could send. */
export function anyFrame(tokens: fc.Arbitrary<string>): fc.Arbitrary<FrameSpec> {
  return fc.oneof(
    { arbitrary: structuredFrame(tokens), weight: 6 },
    { arbitrary: anyJsonValue.map((value) => ({ kind: 'text' as const, text: JSON.stringify(value) })), weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ kind: 'text' as const, text })), weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: 'binary' as const, bytes })), weight: 1 },
    // A frame sent as binary: refused, echoing its id.
    { arbitrary: structuredFrame(tokens).map((spec) => ({ kind: 'binary' as const, bytes: new Uint8Array(Buffer.from(renderFrame(spec as FrameSpec & { kind: 'frame' }))) })), weight: 1 },
  );
}

/** The JSON text of a frame spec; `idOverride` replaces a valid id's value (to keep ids unique). */
export function renderFrame(spec: FrameSpec & { kind: 'frame' }, idText?: string): string {
  const entries: string[] = [];
  if ('event' in spec) entries.push(`"event":${JSON.stringify(spec.event)}`);
  if ('data' in spec) entries.push(`"data":${JSON.stringify(spec.data)}`);
  if (spec.id) entries.push(`"id":${idText ?? (spec.id.kind === 'string' ? JSON.stringify(spec.id.value) : spec.id.text)}`);
  for (const [key, value] of spec.extra) entries.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return `{${entries.join(',')}}`;
}

export type ContractParse =
  | { ok: true; event: string; data: object; id: FrameId | undefined }
  | { ok: false; event: string | undefined; id: FrameId | undefined };

/**
 * Section 2 written out as plainly as possible, as the oracle for the frame parser: what a
 * message must be to reach an event handler, and which event and id a refusal can echo.
 */
export function contractParse(message: { binary: Uint8Array } | { text: string }, maxDepth: number): ContractParse {
  const refused = (event?: string, id?: FrameId): ContractParse => ({ ok: false, event, id });
  let frame: unknown;
  try {
    frame = JSON.parse('binary' in message ? Buffer.from(message.binary).toString() : message.text);
  } catch {
    return refused();
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return refused();
  const fields = frame as Record<string, unknown>;
  const event = typeof fields.event === 'string' ? fields.event : undefined;
  const id = fields.id;
  // Any JSON number, however large: the reply echoes it as written (1e999 parses to Infinity here).
  const idIsValid = typeof id === 'string' || typeof id === 'number';
  if ('id' in fields && !idIsValid) return refused(event);
  const validId = idIsValid ? (id as FrameId) : undefined;
  // More members and elements than any event has fields: refused before it is parsed (docs/protocol.md).
  if (valueCountOf(frame) > FRAME_VALUES_MAX) return refused(event, validId);
  // Every binary frame is refused, echoing the id its bytes hold as JSON.
  if ('binary' in message) return refused(event, validId);
  if (event === undefined) return refused(undefined, validId);
  if (depthOf(frame) > maxDepth) return refused(event, validId);
  const data = fields.data;
  if ('data' in fields && (typeof data !== 'object' || data === null || Array.isArray(data))) return refused(event, validId);
  return { ok: true, event, data: (data as object | undefined) ?? {}, id: validId };
}
