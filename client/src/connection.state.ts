/** Where a HeraldClient is: dialling, open (welcomed), waiting to reconnect, or closed for good. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Allowed transitions; anything else is a bug in the client. */
export const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  connecting: ['open', 'reconnecting', 'closed'],
  open: ['reconnecting', 'closed'],
  reconnecting: ['open', 'closed'],
  closed: [],
};
