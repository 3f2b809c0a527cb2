import type { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { CloseCode } from '@herald/client/protocol';
import { closeSocket } from '../connections/connection';

/**
 * ws closes a connection whose frame passes maxPayload with a bare 1009; the contract's table
 * (section 5) gives 1009 the reason `message_too_big`. This listener runs before ws's own on the
 * socket's Receiver and closes with the reason; ws's close that follows finds the socket closing
 * already and does nothing. One shared function: the Receiver names its socket through ws's
 * `websocket` symbol, so no closure is kept per connection.
 */
export function closeOversizedFramesWithReason(socket: WebSocket): void {
  const receiver = (socket as unknown as { _receiver: EventEmitter })._receiver;
  webSocketSymbol ??= Object.getOwnPropertySymbols(receiver).find((symbol) => symbol.description === 'websocket');
  receiver.prependListener('error', onReceiverError);
}

let webSocketSymbol: symbol | undefined;

function onReceiverError(this: EventEmitter, error: Error & { code?: string }): void {
  if (error.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || webSocketSymbol === undefined) return;
  const socket = (this as unknown as Record<symbol, WebSocket | undefined>)[webSocketSymbol];
  if (socket && socket.readyState === socket.OPEN) closeSocket(socket, CloseCode.MessageTooBig);
}
