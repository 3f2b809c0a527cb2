import { isUtf8 } from 'node:buffer';
import { type RawData, WebSocket } from 'ws';
import { closeSocket, Connection, CONNECTION_OF_SOCKET } from '../connections/connection';

/** RFC 6455's close code for data inconsistent with its type (7.4.1). */
const INVALID_FRAME_PAYLOAD = 1007;

/**
 * What the pod does with every socket's events: one function per event, shared by all sockets,
 * called with the socket as `this` (ConnectionAdmission: close, error; FrameDispatcher:
 * message, ping, pong).
 */
export interface SocketEventHandlers {
  close(this: WebSocket, code: number): void;
  error(this: WebSocket, error: Error): void;
  message(this: WebSocket, data: RawData, isBinary: boolean): void;
  ping(this: WebSocket, data: Buffer): void;
  pong(this: WebSocket): void;
}

/**
 * The WebSocket class the gateway's server makes its sockets of (ws's documented `WebSocket`
 * option): `emit` hands each of these events to the shared handler first, so no socket stores
 * listeners for them. Added per socket, five events took each socket an event map that grows
 * past its first few entries: about 300 bytes of every idle connection's heap, on tens of
 * thousands of them. Listeners anyone else adds still run, after the handler.
 *
 * A paused socket emits no frame events (admission pauses it until `welcome`, and the
 * dispatcher ignores sockets the hub no longer knows), and an 'error' with no listener
 * besides the handler is handled: EventEmitter would otherwise throw it and end the process.
 */
export function socketClassWith(handlers: SocketEventHandlers): typeof WebSocket {
  return class HeraldSocket extends WebSocket {
    /** Declared, so every socket has the slot in itself (ConnectionHub sets it while the connection lives). */
    [CONNECTION_OF_SOCKET]: Connection | undefined = undefined;

    override emit(event: string | symbol, first?: unknown, second?: unknown): boolean {
      switch (event) {
        case 'message':
          handlers.message.call(this, first as RawData, second as boolean);
          break;
        case 'ping':
          handlers.ping.call(this, first as Buffer);
          break;
        case 'pong':
          handlers.pong.call(this);
          break;
        case 'close':
          handlers.close.call(this, first as number);
          break;
        case 'error':
          handlers.error.call(this, first as Error);
          if (this.listenerCount('error') === 0) return true;
          break;
      }
      // Two arguments at most: that is all ws's events carry, and a rest parameter would build an array per frame.
      return super.emit(event, first, second);
    }

    /**
     * ws answers a client's close frame with its code and reason (the reason as the bytes read,
     * the only close given a Buffer here), and with UTF-8 left to us (skipUTF8Validation) it sent
     * back a reason that is not UTF-8 as it came. RFC 6455 (8.1) fails such a close: 1007,
     * counted as the pod's own close (closeSocket), not as the code the client sent.
     */
    override close(code?: number, reason?: string | Buffer): void {
      if (Buffer.isBuffer(reason) && !isUtf8(reason)) return closeSocket(this, { code: INVALID_FRAME_PAYLOAD, reason: '' });
      super.close(code, reason);
    }
  };
}
