import type { RawData } from 'ws';
import { FrameId } from '@herald/client/protocol';
import { jsonNestingExceeds } from '../parsing/json-depth';

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
  if (isBinary) return { ok: false, problem: 'Frames must be JSON text frames', event: undefined, id: undefined };
  const bytes = bytesOf(raw);
  let frame: unknown;
  try {
    // V8's JSON.parse does not recurse, so even a hostile frame parses in linear time; only
    // what runs after it must not see one nested too deeply.
    frame = JSON.parse(bytes.toString());
  } catch {
    return { ok: false, problem: 'Frame is not valid JSON', event: undefined, id: undefined };
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    return { ok: false, problem: 'Frame must be a JSON object', event: undefined, id: undefined };
  }
  const { event, data, id } = frame as { event?: unknown; data?: unknown; id?: unknown };
  const validId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : undefined;
  const eventName = typeof event === 'string' ? event : undefined;
  if (id !== undefined && validId === undefined) return { ok: false, problem: 'id must be a string or a number', event: eventName, id: undefined };
  if (eventName === undefined) return { ok: false, problem: 'event must be a string', event: undefined, id: validId };
  if (jsonNestingExceeds(bytes, maxDepth)) return { ok: false, problem: `Frame is nested deeper than ${maxDepth} levels`, event: eventName, id: validId };
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    return { ok: false, problem: 'data must be an object', event: eventName, id: validId };
  }
  return { ok: true, event: eventName, data: (data as object | undefined) ?? {}, id: validId };
}

/** ws hands a text message over as one Buffer (fragmented ones as an array of them). */
function bytesOf(raw: RawData): Buffer {
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return raw instanceof ArrayBuffer ? Buffer.from(raw) : raw;
}
