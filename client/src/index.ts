export * from './protocol.ts';
export { HeraldClient, connect } from './herald.client.ts';
export type {
  ConnectionState,
  DisconnectEvent,
  HeraldClientEvents,
  HeraldClientOptions,
  RecoveryEvent,
  StateChange,
  UnreadChange,
  WebSocketConstructor,
  WebSocketLike,
} from './herald.client.ts';
export {
  HeraldAuthError,
  HeraldError,
  HeraldHttpError,
  HeraldNetworkError,
  HeraldValidationError,
  type HeraldErrorCode,
} from './herald.errors.ts';
export { InboxClient, httpUrlOf, type InboxListOptions } from './inbox.client.ts';
export { PublishClient, type PublishClientOptions } from './publish.client.ts';
export { backoffCeilingMs, backoffDelayMs, type BackoffOptions } from './backoff.policy.ts';
export {
  DEFAULT_RECONNECT_OPTIONS,
  decideReconnect,
  type ReconnectDecision,
  type ReconnectOptions,
} from './reconnect.policy.ts';
