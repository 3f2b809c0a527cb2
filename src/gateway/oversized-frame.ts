import type { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { CloseCode } from '@herald/client/protocol';
import { closeSocket } from '../connections/connection';
import { prependReceiverErrorListener, socketOfReceiver } from '../connections/ws.internals';

/**
 * ws closes a connection whose frame passes maxPayload with a bare 1009, and one whose message
 * comes in more fragments (or buffered chunks) than it keeps with 1008 and no reason; the
 * contract's 1008 means "get a new token", which would send a well-behaved client to its auth
 * server for nothing. Both are a message too big to assemble: 1009 `message_too_big` (section 5).
 * This listener runs before ws's own on the socket's Receiver and closes with that code; ws's
 * close that follows finds the socket closing already and does nothing. One shared function: the
 * Receiver names its socket (socketOfReceiver), so no closure is kept per connection.
 */
export function closeOversizedFramesWithReason(socket: WebSocket): void {
  prependReceiverErrorListener(socket, onReceiverError);
}

/**
 * ws's error codes for a message over maxPayload, for a frame that declares a length over 2^53
 * (beyond any maxPayload), and for one in too many fragments or chunks.
 */
const MESSAGE_TOO_BIG_ERRORS = new Set(['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 'WS_ERR_TOO_MANY_BUFFERED_PARTS']);

function onReceiverError(this: EventEmitter, error: Error & { code?: string }): void {
  if (!MESSAGE_TOO_BIG_ERRORS.has(error.code ?? '')) return;
  const socket = socketOfReceiver(this);
  if (socket && socket.readyState === socket.OPEN) closeSocket(socket, CloseCode.MessageTooBig);
}
