import { ActivityKey } from './webhook-event';

/**
 * Counts users' connections and rooms' members across the cluster and queues an event when a
 * count leaves zero (user.online, room.occupied) or returns to it (user.offline, room.vacated).
 * Drivers: MemoryActivityTracker and RedisActivityTracker, where each transition and its event
 * are one atomic Lua step, so exactly one pod raises it and the queue holds them in the order
 * they happened.
 */
export abstract class ActivityTracker {
  /** One more (+1) or one fewer (-1) on this pod. Returns at once: the hot path only records. */
  abstract change(key: ActivityKey, delta: 1 | -1): void;

  abstract start(): Promise<void>;

  /** This pod goes away: whatever it still counts goes down (offline, vacated) cluster-wide. */
  abstract close(): Promise<void>;
}

/**
 * What a tracker or queue reports for the metrics: events that entered the queue, and the
 * events dropped for them (the queue's oldest, once it is full; or, for a tracker, downs it
 * could not keep while Redis was away).
 */
export interface QueueOutcome {
  queued: number;
  dropped: number;
}
