import { describe, isObject } from './herald.errors.ts';
import type { ServerEventName, ServerFrame } from './protocol.ts';

/**
 * Reads what the server sent before the client acts on it. A frame that does not match the
 * contract (section 2) is reported, never acted on: a bug or a hostile peer on the other end
 * must not throw inside the socket's handler or reach the app as half an event.
 *
 * `ok: false` is a frame that is not one at all (not JSON, no event); `problem` on a frame that
 * is one says what is wrong with its data, so that a reply still settles its request.
 */
export type FrameReading = { ok: true; frame: ServerFrame; problem: string | null } | { ok: false; problem: string };

/** Checks the data of one event; returns what is wrong with it, or null when it is fine. */
type DataCheck = (data: Record<string, any>) => string | null;

const isString = (value: unknown): value is string => typeof value === 'string';
const isStringOrNull = (value: unknown): boolean => value === null || isString(value);
/** A count as the server sends one (`unread`, `missed`): a non-negative safe integer. */
export const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** Names the first field that fails its check. */
function firstBadField(data: Record<string, any>, checks: Record<string, (value: unknown) => boolean>): string | null {
  for (const [field, check] of Object.entries(checks)) {
    if (!check(data[field])) return `its ${field} is missing or of the wrong type`;
  }
  return null;
}

const fields =
  (checks: Record<string, (value: unknown) => boolean>): DataCheck =>
  (data) =>
    firstBadField(data, checks);

/** The events whose data the client reads, with what it relies on. Others are ignored unread. */
const DATA_CHECKS: Partial<Record<ServerEventName, DataCheck>> = {
  welcome: fields({
    user: (value) => isString(value) && value !== '',
    heartbeatMs: (value) => typeof value === 'number',
    expiresAt: (value) => value === undefined || isStringOrNull(value),
  }),
  joined: fields({
    room: isString,
    seq: (value) => value === undefined || isStringOrNull(value),
    recovered: (value) => value === undefined || typeof value === 'boolean',
    missed: (value) => value === undefined || isCount(value),
  }),
  left: fields({ room: isString }),
  ack: fields({ seq: isString }),
  refreshed: fields({ expiresAt: isStringOrNull }),
  message: fields({ seq: isString, room: isString, user: isString, text: isString, timestamp: isString }),
  notification: fields({ id: isString, seq: isString, room: isString, type: isString, payload: isObject, timestamp: isString }),
  presence: fields({ room: isString, user: isString, status: (value) => value === 'joined' || value === 'left', timestamp: isString }),
  inbox: fields({ unread: isCount, read: (value) => value === 'all' || (Array.isArray(value) && value.every(isString)) }),
  recovery: fields({ room: isString, seq: (value) => value === undefined || isStringOrNull(value) }),
  error: fields({ code: isString, message: (value) => value === undefined || isString(value), event: (value) => value === undefined || isString(value) }),
};

/** Parses one frame and checks its envelope and, for the events the client reads, its data. */
export function readServerFrame(raw: unknown): FrameReading {
  let frame: unknown;
  try {
    frame = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer));
  } catch (error) {
    return { ok: false, problem: `unparsable frame from the server: ${describe(error)}` };
  }
  if (!isObject(frame) || typeof frame.event !== 'string') return { ok: false, problem: 'malformed frame from the server: no event' };
  if (frame.id !== undefined && typeof frame.id !== 'string' && typeof frame.id !== 'number') {
    return { ok: false, problem: `malformed ${frame.event} frame from the server: its id is neither a string nor a number` };
  }
  return { ok: true, frame: frame as ServerFrame, problem: dataProblem(frame.event, frame.data) };
}

/** What is wrong with the data of `event`, or null; the data of events the client does not read passes. */
function dataProblem(event: string, data: unknown): string | null {
  if (data !== undefined && !isObject(data)) return 'its data is not an object';
  // Own keys only: `__proto__` or `valueOf` from a hostile peer must find nothing, not Object.prototype's.
  const check = Object.hasOwn(DATA_CHECKS, event) ? DATA_CHECKS[event as ServerEventName] : undefined;
  if (!check) return null;
  if (data === undefined) return 'it has no data';
  return check(data as Record<string, any>);
}
