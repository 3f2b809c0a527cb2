import type { EventEmitter } from 'node:events';
import { Writable, type Duplex } from 'node:stream';
import WebSocket from 'ws';

/*
 * Every use of `ws`'s undeclared internals, in one file. Herald relies on them for four things
 * the public API cannot do: writing one pre-built frame to many sockets (PreparedFrame), reading
 * the permessage-deflate parameters a socket agreed (CompressionNegotiation), closing an
 * oversized message with the contract's 1009 reason (closeOversizedFramesWithReason), and
 * closing a socket without building an error no one reads (endReceiversOnce).
 *
 * Written against ws 8.23. ws.internals.spec.ts checks each accessor on real sockets, so a `ws`
 * upgrade that renames or reshapes one of them fails that test by name instead of failing
 * quietly in production. Each accessor also throws WsInternalsChanged rather than returning
 * undefined, so a mismatch that slips past the tests surfaces as a clear error.
 */

/** A `ws` internal Herald relies on is missing or has changed shape. */
export class WsInternalsChanged extends Error {
  constructor(what: string) {
    super(`ws ${wsVersion()} no longer has ${what}; Herald's src/connections/ws.internals.ts was written for ws 8.23`);
    this.name = 'WsInternalsChanged';
  }
}

/** The parts of ws's Sender that writing a pre-built frame relies on. */
interface Sender {
  _state: number;
  _queue: unknown[];
  sendFrame(list: readonly Buffer[], callback?: (error?: Error) => void): void;
}

/** The parts of ws's WebSocket (the `_`-prefixed fields) read here. */
interface SocketInternals {
  _sender: Sender | null;
  _socket: Duplex | null;
  _receiver: EventEmitter | null;
  _extensions: Record<string, { params: DeflateParams } | undefined>;
}

/** permessage-deflate parameters as agreed in the handshake (RFC 7692 names). */
export interface DeflateParams {
  server_no_context_takeover?: boolean;
  client_no_context_takeover?: boolean;
  server_max_window_bits?: number;
  client_max_window_bits?: number;
}

type FrameOptions = { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean };
const SenderClass = (WebSocket as unknown as { Sender?: { frame?(data: Buffer, options: FrameOptions): [Buffer, Buffer] } }).Sender;
if (typeof SenderClass?.frame !== 'function') throw new WsInternalsChanged('WebSocket.Sender.frame()');
const frameParts = SenderClass.frame.bind(SenderClass);

/** `Sender`'s state while it is idle: neither deflating nor reading a Blob. */
const SENDER_IDLE = 0;

function internalsOf(socket: WebSocket): SocketInternals {
  return socket as unknown as SocketInternals;
}

/** The header and payload of one final, unmasked frame, as ws's own Sender builds them. */
export function frameHeaderAndPayload(data: Buffer, opcode: number, rsv1: boolean): [Buffer, Buffer] {
  return frameParts(data, { fin: true, opcode, mask: false, readOnly: true, rsv1 });
}

/** Whether the socket's Sender has nothing in progress or queued, so a frame may be written past it. */
export function senderIsIdle(socket: WebSocket): boolean {
  const sender = senderOf(socket);
  return sender._state === SENDER_IDLE && sender._queue.length === 0;
}

/** Writes a complete frame through the socket's Sender (only while senderIsIdle). */
export function writeFrame(socket: WebSocket, wire: readonly Buffer[]): void {
  senderOf(socket).sendFrame(wire);
}

function senderOf(socket: WebSocket): Sender {
  const sender = internalsOf(socket)._sender;
  if (!sender || typeof sender.sendFrame !== 'function' || !Array.isArray(sender._queue)) throw new WsInternalsChanged('WebSocket#_sender with sendFrame() and _queue');
  return sender;
}

/** The TCP (or TLS) stream under an open socket. */
export function streamOf(socket: WebSocket): Duplex {
  const stream = internalsOf(socket)._socket;
  if (!stream || typeof stream.cork !== 'function') throw new WsInternalsChanged('WebSocket#_socket (the net.Socket)');
  return stream;
}

/** The permessage-deflate parameters this socket agreed, or undefined when it agreed none. */
export function deflateParamsOf(socket: WebSocket): DeflateParams | undefined {
  const extensions = internalsOf(socket)._extensions;
  if (typeof extensions !== 'object' || extensions === null) throw new WsInternalsChanged('WebSocket#_extensions');
  return extensions['permessage-deflate']?.params;
}

/**
 * Adds a listener that runs before ws's own on the socket's Receiver 'error' event; the listener
 * is called with the Receiver as `this` (see socketOfReceiver), so one function serves every socket.
 *
 * ws's own listener is one function for every Receiver (its module's receiverOnError). Where the
 * Receiver holds it alone, it is replaced in place by one function that calls `listener`, then it:
 * a second listener would make EventEmitter keep an array per Receiver, about 100 bytes for each
 * connection while it lives. Anything else (another listener there too) gets a prepended listener.
 */
export function prependReceiverErrorListener(socket: WebSocket, listener: ReceiverErrorListener): void {
  const receiver = internalsOf(socket)._receiver;
  if (!receiver || typeof receiver.prependListener !== 'function') throw new WsInternalsChanged('WebSocket#_receiver');
  webSocketSymbol ??= Object.getOwnPropertySymbols(receiver).find((symbol) => symbol.description === 'websocket');
  if (webSocketSymbol === undefined) throw new WsInternalsChanged("the Receiver's websocket symbol");
  const events = (receiver as unknown as { _events?: Record<string, unknown> })._events;
  const wsListener = events?.error;
  if (typeof wsListener !== 'function') {
    receiver.prependListener('error', listener);
    return;
  }
  let combined = combinedErrorListeners.get(listener);
  if (combined?.wsListener !== wsListener) {
    combined = { wsListener: wsListener as ReceiverErrorListener, both: bothInOrder(listener, wsListener as ReceiverErrorListener) };
    combinedErrorListeners.set(listener, combined);
  }
  events!.error = combined.both;
}

type ReceiverErrorListener = (this: EventEmitter, error: Error & { code?: string }) => void;

/** Per listener of Herald's, the one function that runs it and then ws's own (see prependReceiverErrorListener). */
const combinedErrorListeners = new WeakMap<ReceiverErrorListener, { wsListener: ReceiverErrorListener; both: ReceiverErrorListener }>();

function bothInOrder(first: ReceiverErrorListener, then: ReceiverErrorListener): ReceiverErrorListener {
  return function (this: EventEmitter, error) {
    first.call(this, error);
    then.call(this, error);
  };
}

/** The socket a Receiver reads for (ws links them through its `websocket` symbol). */
export function socketOfReceiver(receiver: EventEmitter): WebSocket | undefined {
  return webSocketSymbol === undefined ? undefined : (receiver as unknown as Record<symbol, WebSocket | undefined>)[webSocketSymbol];
}

let webSocketSymbol: symbol | undefined;

const ReceiverClass = (WebSocket as unknown as { Receiver?: { prototype: Writable } }).Receiver;

/**
 * Makes a later `end()` of a Receiver already ended return at once. In a clean close ws ends a
 * socket's Receiver three times: at the close frame (the Receiver itself), when the TCP stream
 * ends (socketOnEnd) and when it closes (socketOnClose). Node's Writable answers each call after
 * the first by building an ERR_STREAM_ALREADY_FINISHED error, stack trace included, that no one
 * reads (these calls pass no callback): about 11% of a pod's CPU while it drained its clients in
 * a reconnect storm. A call with arguments, or on a Receiver not ended, goes to Writable's own.
 * Installed once for the process; installing again changes nothing.
 */
export function endReceiversOnce(): void {
  const prototype = ReceiverClass?.prototype;
  if (!(prototype instanceof Writable)) throw new WsInternalsChanged('WebSocket.Receiver (a Writable)');
  if (prototype.end !== Writable.prototype.end) return;
  const writableEnd = Writable.prototype.end;
  prototype.end = function end(this: Writable, ...args: unknown[]): Writable {
    if (args.length === 0 && this.writableEnded) return this;
    return (writableEnd as (...endArgs: unknown[]) => Writable).apply(this, args);
  } as Writable['end'];
}

let version: string | undefined;
function wsVersion(): string {
  if (version === undefined) {
    try {
      version = (require('ws/package.json') as { version: string }).version;
    } catch (error) {
      // Only for the message: an unreadable package.json must not hide the real problem.
      version = `(version unknown: ${String(error)})`;
    }
  }
  return version;
}
