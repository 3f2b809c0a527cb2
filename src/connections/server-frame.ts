import { FrameId, ServerEventName, ServerEvents } from '@herald/client/protocol';

/**
 * A server-to-client frame as sent on the wire, typed from the shared protocol: the event's data
 * must be what ServerEvents says it carries. Serialized once, whether for one connection or for
 * a whole room's broadcast.
 */
export function serverFrame<E extends ServerEventName>(event: E, data: ServerEvents[E], id?: FrameId): string {
  return JSON.stringify(id === undefined ? { event, data } : { event, data, id });
}
