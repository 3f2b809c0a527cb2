import { FrameId, ServerEventName, ServerEvents } from '@herald/client/protocol';
import type { Delivery } from '../broker/broker';

/**
 * A server-to-client frame as sent on the wire, typed from the shared protocol: the event's data
 * must be what ServerEvents says it carries. Serialized once, whether for one connection or for
 * a whole room's broadcast.
 */
export function serverFrame<E extends ServerEventName>(event: E, data: ServerEvents[E], id?: FrameId): string {
  return JSON.stringify(id === undefined ? { event, data } : { event, data, id });
}

/**
 * The frame a delivery becomes, built once per pod on the delivery side (ConnectionHub).
 * A publication's frame is spliced from its stored body rather than parsed and serialized
 * again: the body is already JSON, and `seq` goes first in its data (section 2).
 */
export function deliveryFrame(delivery: Delivery): string {
  switch (delivery.kind) {
    case 'publication':
      return `{"event":"${delivery.event}","data":{"seq":"${delivery.seq}",${delivery.body.slice(1)}}`;
    case 'broadcast':
      return delivery.frame;
    case 'gap':
      // Section 4's `recovery`: the pod cannot prove a live member of the room missed nothing.
      return serverFrame('recovery', { room: delivery.room, seq: delivery.latestSeq, recovered: false });
  }
}
