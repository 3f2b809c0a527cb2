/**
 * The Herald wire contract, version 1, typed once for the server and every client.
 * docs/protocol.md is the prose; this file is what the code compiles against.
 */

export const PROTOCOL_VERSION = 'herald.v1';
/** Subprotocol prefix that carries the JWT, so browsers keep it out of URLs. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

export type FrameId = string | number;

export interface Frame<E extends string = string, D = unknown> {
  event: E;
  data?: D;
  id?: FrameId;
}

// ---- client -> server -------------------------------------------------------

export interface JoinRequest {
  room: string;
  /** Last `seq` the client saw in this room; asks the server to replay what came after it. */
  since?: string;
}
export interface LeaveRequest {
  room: string;
}
export interface MessageRequest {
  room: string;
  text: string;
}
export interface RefreshRequest {
  token: string;
}

export interface ClientEvents {
  join: JoinRequest;
  leave: LeaveRequest;
  message: MessageRequest;
  refresh: RefreshRequest;
  ping: undefined;
  pong: undefined;
}
export type ClientEventName = keyof ClientEvents;
export const CLIENT_EVENTS: readonly ClientEventName[] = ['join', 'leave', 'message', 'refresh', 'ping', 'pong'];

// ---- server -> client -------------------------------------------------------

export interface Welcome {
  connectionId: string;
  user: string;
  heartbeatMs: number;
  maxMessageBytes: number;
  rooms: string[];
  /** The token's `exp` as ISO 8601, or null when the token never expires. */
  expiresAt: string | null;
}
export interface Joined {
  room: string;
  /**
   * The room's latest `seq` at the moment of joining; a valid `since` for the next join, even
   * for a room nothing was published to yet (its history then starts at position 0).
   */
  seq: string | null;
  /** Present when the join carried `since`. */
  recovered?: boolean;
  /** How many messages are replayed after this reply (present when `recovered` is true). */
  missed?: number;
}
export interface Left {
  room: string;
}
export interface Ack {
  seq: string;
}
export interface Refreshed {
  expiresAt: string | null;
}
export interface ChatMessage {
  seq: string;
  room: string;
  user: string;
  name?: string;
  text: string;
  timestamp: string;
}
export interface Notification {
  id: string;
  seq: string;
  room: string;
  type: string;
  payload: Record<string, unknown>;
  timestamp: string;
}
export type PresenceStatus = 'joined' | 'left';
export interface PresenceEvent {
  room: string;
  user: string;
  status: PresenceStatus;
  timestamp: string;
}
export interface InboxEvent {
  unread: number;
  read: string[] | 'all';
}
export interface ErrorData {
  code: ErrorCode;
  message: string;
  event?: string;
}

/**
 * Sent unprompted to a live member whose pod cannot prove it missed nothing in the room (its
 * history was lost or broke across a broker outage or failover): reload the room's state.
 */
export interface RecoveryNotice {
  room: string;
  /** The room's current seq, or null when it has no history now. */
  seq: string | null;
  recovered: false;
}

export interface ServerEvents {
  welcome: Welcome;
  joined: Joined;
  left: Left;
  ack: Ack;
  refreshed: Refreshed;
  pong: undefined;
  ping: undefined;
  message: ChatMessage;
  notification: Notification;
  presence: PresenceEvent;
  inbox: InboxEvent;
  recovery: RecoveryNotice;
  error: ErrorData;
}
export type ServerEventName = keyof ServerEvents;

/** A frame the server sends, discriminated by `event`. */
export type ServerFrame = {
  [E in ServerEventName]: { event: E; data: ServerEvents[E]; id?: FrameId };
}[ServerEventName];

// ---- errors -------------------------------------------------------------------

export const ERROR_CODES = [
  'bad_request',
  'invalid_room',
  'forbidden',
  'not_member',
  'unauthorized',
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

// ---- rooms ----------------------------------------------------------------------

export const ROOM_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const PERSONAL_ROOM_PREFIX = 'user:';
/** A user id (`sub`) names the personal room `user:<sub>`, so it is what fits after the prefix. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,123}$/;
export const PUBLIC_ROOM_PREFIX = 'public:';
export const MESSAGE_TEXT_MAX_CHARS = 4000;

/**
 * The length of a message text as the server counts it against MESSAGE_TEXT_MAX_CHARS
 * (class-validator's `Length`, i.e. validator.js `isLength`): UTF-16 units, less one per
 * surrogate pair and one per character followed by a variation selector (U+FE0E, U+FE0F).
 */
export function messageTextLength(text: string): number {
  const presentationSequences = text.match(/[^\uFE0F\uFE0E][\uFE0F\uFE0E]/g)?.length ?? 0;
  const surrogatePairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0;
  return text.length - presentationSequences - surrogatePairs;
}

export function personalRoom(user: string): string {
  return PERSONAL_ROOM_PREFIX + user;
}

/** Whether `room` is a user's personal room (`user:<sub>`), which only the publish API writes to. */
export function isPersonalRoom(room: string): boolean {
  return room.startsWith(PERSONAL_ROOM_PREFIX);
}

// ---- close codes ----------------------------------------------------------------

/** What a client should do after a close, per section 5 of the contract. */
export type CloseAdvice =
  | 'stop' // do not reconnect
  | 'reconnect_soon' // short random delay (drain, going away)
  | 'reconnect' // reconnect at once (with since)
  | 'reconnect_backoff' // exponential backoff
  | 'new_token'; // get a new token first; never retry with the same one

export interface CloseCodeInfo {
  code: number;
  reason: string;
  advice: CloseAdvice;
}

export const CloseCode = {
  Normal: { code: 1000, reason: 'normal', advice: 'stop' },
  GoingAway: { code: 1001, reason: 'going_away', advice: 'reconnect_soon' },
  Unauthorized: { code: 1008, reason: 'unauthorized', advice: 'new_token' },
  OriginNotAllowed: { code: 1008, reason: 'origin_not_allowed', advice: 'stop' },
  MessageTooBig: { code: 1009, reason: 'message_too_big', advice: 'reconnect' },
  Internal: { code: 1011, reason: 'internal', advice: 'reconnect_backoff' },
  ServiceRestart: { code: 1012, reason: 'service_restart', advice: 'reconnect_soon' },
  TryAgainLater: { code: 1013, reason: 'try_again_later', advice: 'reconnect_backoff' },
  TokenExpired: { code: 4001, reason: 'token_expired', advice: 'new_token' },
  SlowConsumer: { code: 4008, reason: 'slow_consumer', advice: 'reconnect' },
  RateLimited: { code: 4029, reason: 'rate_limited', advice: 'reconnect_backoff' },
  /**
   * Never sent by the server: the code the SDK closes with when it abandons a socket itself
   * (no `welcome` in time, or silent for 2 x heartbeatMs).
   */
  ClientTimeout: { code: 4000, reason: 'client_timeout', advice: 'reconnect_backoff' },
  /**
   * Never on the wire: what a close event reports when no close frame came (a dropped network,
   * or a peer the server's heartbeat terminated).
   */
  Abnormal: { code: 1006, reason: '', advice: 'reconnect_backoff' },
} as const satisfies Record<string, CloseCodeInfo>;

/**
 * Advice for a close code as received by a client. Codes outside the table (proxies' own codes)
 * are treated as transient.
 */
export function closeAdvice(code: number, reason = ''): CloseAdvice {
  if (code === 1008 && reason === CloseCode.OriginNotAllowed.reason) return 'stop';
  for (const info of Object.values(CloseCode) as CloseCodeInfo[]) {
    if (info.code === code && info.reason !== CloseCode.OriginNotAllowed.reason) return info.advice;
  }
  return 'reconnect_backoff';
}

// ---- HTTP API -----------------------------------------------------------------------

/** A notification's `id` (a publish's, and each one POST /v1/inbox/read is given): 1..NOTIFICATION_ID_MAX_CHARS characters. */
export const NOTIFICATION_ID_MAX_CHARS = 128;
/** A notification's `type`: 1..NOTIFICATION_TYPE_MAX_CHARS characters. */
export const NOTIFICATION_TYPE_MAX_CHARS = 100;
/** A publish's `rooms` and `users` together name at most PUBLISH_TARGETS_MAX distinct rooms, and neither list is longer. */
export const PUBLISH_TARGETS_MAX = 1000;
export interface PublishRequest {
  rooms?: string[];
  users?: string[];
  type: string;
  payload: Record<string, unknown>;
  id?: string;
}
export interface PublishResponse {
  id: string;
  targets: number;
}
/** POST /v1/notifications/batch: up to PUBLISH_BATCH_MAX independent notifications. */
export const PUBLISH_BATCH_PATH = '/v1/notifications/batch';
export const PUBLISH_BATCH_MAX = 1000;
export interface PublishBatchRequest {
  notifications: PublishRequest[];
}
/** One result per notification, in request order: what a single publish would have answered. */
export type PublishBatchItemResult = PublishResponse | { error: { statusCode: number; message: string } };
/** 200 when every notification was accepted, 207 when any was not. */
export interface PublishBatchResponse {
  accepted: number;
  failed: number;
  results: PublishBatchItemResult[];
}
export interface PresenceResponse {
  room: string;
  users: string[];
  connections: number;
}
export const INBOX_PATH = '/v1/inbox';
export const INBOX_READ_PATH = '/v1/inbox/read';
/** `limit` of GET /v1/inbox: 1..INBOX_LIMIT_MAX, INBOX_LIMIT_DEFAULT when absent. */
export const INBOX_LIMIT_MAX = 100;
export const INBOX_LIMIT_DEFAULT = 50;
export interface InboxItem {
  id: string;
  seq: string;
  type: string;
  payload: Record<string, unknown>;
  timestamp: string;
  read: boolean;
}
export interface InboxPage {
  items: InboxItem[];
  unread: number;
  next: string | null;
}
/** `ids` of POST /v1/inbox/read: a non-empty list of at most INBOX_READ_IDS_MAX. */
export const INBOX_READ_IDS_MAX = 1000;
export interface InboxReadRequest {
  ids?: string[];
  all?: true;
}
export interface InboxReadResponse {
  unread: number;
}
/** NestJS's standard error body. */
export interface HttpErrorBody {
  statusCode: number;
  message: string | string[];
  error?: string;
}

// ---- backend hooks (section 8) --------------------------------------------------------

/** Headers on every request Herald sends to a backend (webhooks and the join proxy). */
export const HOOK_TIMESTAMP_HEADER = 'x-herald-timestamp';
export const HOOK_SIGNATURE_HEADER = 'x-herald-signature';

export const WEBHOOK_EVENT_TYPES = ['user.online', 'user.offline', 'room.occupied', 'room.vacated', 'notification.unread'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

interface WebhookEventBase<T extends WebhookEventType> {
  /** Stable across retries: receivers de-duplicate by it. */
  id: string;
  type: T;
  /** When it happened, ISO 8601 UTC. */
  timestamp: string;
}
export type WebhookEvent =
  | (WebhookEventBase<'user.online' | 'user.offline'> & { user: string })
  | (WebhookEventBase<'room.occupied' | 'room.vacated'> & { room: string })
  | (WebhookEventBase<'notification.unread'> & { user: string; seq: string; notification: UnreadNotification });

/**
 * The notification a `notification.unread` is about. It sits in its own object because its
 * `id` and `type` would otherwise collide with the event's own; its `seq`, which collides with
 * nothing, is also on the event itself, as the contract's `{user, id, seq, type}` reads.
 */
export interface UnreadNotification {
  id: string;
  seq: string;
  type: string;
}

/** The body of one webhook POST. */
export interface WebhookBatch {
  events: WebhookEvent[];
}

/** What the join proxy asks the backend. */
export interface JoinProxyRequest {
  user: string;
  room: string;
  /** The connection's verified JWT claims. */
  claims: Record<string, unknown>;
}
/** What the backend answers (HTTP 200). */
export interface JoinProxyAnswer {
  allow: boolean;
  /** Seconds the decision may be reused for this user and room with the same claims (iat, exp and nbf aside, so a refreshed token keeps it; allow only). */
  ttl?: number;
}
