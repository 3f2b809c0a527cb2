import { createHash } from 'node:crypto';
import { UnreadNotification, WebhookEvent, WebhookEventType } from '@herald/client/protocol';

/** An event waiting in the queue; `queuedAtMs` starts its retry window. */
export interface QueuedEvent {
  id: string;
  queuedAtMs: number;
  event: WebhookEvent;
}

/** Each kind of event without its `timestamp` (distributed over the union, as Omit is not). */
type WithoutTimestamp<Event> = Event extends WebhookEvent ? Omit<Event, 'timestamp'> : never;

/** An event before the queue stamps it with its clock (WebhookQueue.enqueue): no `timestamp` yet. */
export type UnstampedEvent = WithoutTimestamp<WebhookEvent>;

/** The event stamped at `atMs`, as it is queued and sent (its fields in decodeQueued's order). */
export function stamped(event: UnstampedEvent, atMs: number): QueuedEvent {
  const { id, type, ...fields } = event;
  return { id, queuedAtMs: atMs, event: { id, type, timestamp: new Date(atMs).toISOString(), ...fields } as WebhookEvent };
}

/**
 * What the activity tracker counts cluster-wide: a user's connections (`u:<user>`) or a
 * room's members (`r:<room>`). Its first one appearing and its last one going are the events.
 */
export type ActivityKey = `u:${string}` | `r:${string}`;

export const userKey = (user: string): ActivityKey => `u:${user}`;
export const roomKey = (room: string): ActivityKey => `r:${room}`;

/** The event for an activity key going up (first connection or member) or down (last one gone). */
export function activityEvent(key: ActivityKey, up: boolean, id: string, atMs: number): WebhookEvent {
  const name = key.slice(2);
  const timestamp = new Date(atMs).toISOString();
  return key.startsWith('u:')
    ? { id, type: up ? 'user.online' : 'user.offline', timestamp, user: name }
    : { id, type: up ? 'room.occupied' : 'room.vacated', timestamp, room: name };
}

/** A notification to check for being read, WEBHOOK_UNREAD_AFTER_S after it reached the inbox. */
export interface UnreadCheck {
  user: string;
  notification: UnreadNotification;
}

/**
 * The same id for every attempt to report one unread notification, so a check that runs twice
 * (its pod died after queueing the event) gives receivers a duplicate they can drop. The seq
 * is part of it: a notification id may be used again once the history window has passed
 * (section 6), and that second notification is another reminder, not a duplicate.
 */
export function unreadEvent(check: UnreadCheck): UnstampedEvent {
  const { user, notification } = check;
  const id = `unread_${createHash('sha256').update(`${user}\n${notification.id}\n${notification.seq}`).digest('base64url').slice(0, 24)}`;
  return { id, type: 'notification.unread', user: check.user, seq: check.notification.seq, notification: check.notification };
}

/**
 * A queue entry as stored in Redis: `<id>\n<queuedAtMs>\n<type>\n<occurredAtMs>\n<fields JSON>`,
 * written by the Lua scripts, both times from Redis's clock (TIME), so the id is readable
 * without parsing JSON and the timestamp is formatted here rather than in Lua. What a pod hands
 * the queue script: the id, the type and the fields (the script adds the times).
 */
export function entryParts(event: UnstampedEvent): [id: string, type: string, fields: string] {
  const { id, type, ...fields } = event;
  return [id, type, JSON.stringify(fields)];
}

export function decodeQueued(entry: string): QueuedEvent | undefined {
  const match = /^([^\n]+)\n(\d+)\n([a-z.]+)\n(\d+)\n(\{.*\})$/s.exec(entry);
  if (!match) return undefined;
  const [, id, queuedAtMs, type, occurredAtMs, fields] = match;
  try {
    const event = { id, type: type as WebhookEventType, timestamp: new Date(Number(occurredAtMs)).toISOString(), ...(JSON.parse(fields) as object) } as WebhookEvent;
    return { id, queuedAtMs: Number(queuedAtMs), event };
  } catch {
    return undefined; // unreadable fields: reported as such by the caller
  }
}
