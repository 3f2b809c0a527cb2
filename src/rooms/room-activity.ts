/**
 * What changed on this pod, told after it happened: a connection was admitted or is gone, or
 * joined or left a room (personal rooms included). Backend hooks count these cluster-wide.
 */
export type RoomActivity =
  | { kind: 'connected' | 'disconnected'; user: string; connectionId: string }
  | { kind: 'joined' | 'left'; room: string; connectionId: string };

/** Must return at once and never throw: it runs on the join and close paths. */
export type RoomActivityListener = (activity: RoomActivity) => void;
