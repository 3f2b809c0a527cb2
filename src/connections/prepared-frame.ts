import type { Duplex } from 'node:stream';
import WebSocket from 'ws';

/**
 * One broadcast's WebSocket frame, built once and written as-is to every member's socket
 * (STYLE 5, issue 5). `ws` frames per send: a header Buffer, cork, two writes, uncork, and an
 * options object per socket; fan-out to thousands of sockets paid that thousands of times.
 * Socket.IO's engine.io writes pre-built frames the same way (`wsPreEncodedFrame`).
 */
export class PreparedFrame {
  /** The frame's JSON text as UTF-8, for the rare socket whose sender is busy. */
  readonly payload: Buffer;
  /** Header and payload in one Buffer, in the one-element list `Sender#sendFrame` takes. */
  readonly wire: readonly [Buffer];

  constructor(text: string) {
    this.payload = Buffer.from(text);
    // Server frames are never masked and never compressed here (perMessageDeflate is off).
    const [header, payload] = WireSender.frame(this.payload, { fin: true, opcode: TEXT_OPCODE, mask: false, readOnly: true, rsv1: false });
    this.wire = [Buffer.concat([header, payload])];
  }
}

const TEXT_OPCODE = 1;
/** `Sender`'s state while it is idle: neither deflating nor reading a Blob, nothing queued. */
const SENDER_IDLE = 0;

/** The parts of ws's (undeclared) Sender that writing a pre-built frame relies on. */
interface WireSender {
  _state: number;
  _queue: unknown[];
  sendFrame(list: readonly Buffer[], callback?: (error?: Error) => void): void;
}
const WireSender = (WebSocket as unknown as { Sender: { frame(data: Buffer, options: object): [Buffer, Buffer] } }).Sender;

/**
 * Writes a pre-built frame when the socket's sender is idle, which is always the case without
 * permessage-deflate; otherwise hands the payload to `ws.send`, which queues it behind the
 * frame in progress. Bytes written either way count in `socket.bufferedAmount`.
 *
 * The TCP socket stays corked until the end of this event-loop turn, so the frames of several
 * broadcasts handled in one turn (a burst of publishes, a batch of Redis messages) leave in one
 * write call per socket instead of one each: under load the syscalls, not the JavaScript, are
 * most of a broadcast's cost.
 */
export function sendPrepared(socket: WebSocket, frame: PreparedFrame, sendOptions: { binary: false; compress: false }): void {
  const internals = socket as unknown as { _sender: WireSender; _socket: Duplex };
  const sender = internals._sender;
  if (sender._state !== SENDER_IDLE || sender._queue.length !== 0) {
    socket.send(frame.payload, sendOptions);
    return;
  }
  const tcp = internals._socket;
  if (tcp.writableCorked === 0) {
    tcp.cork();
    corked.push(tcp);
    if (corked.length === 1) setImmediate(uncorkAll);
  }
  sender.sendFrame(frame.wire);
}

/** Sockets corked during this turn; emptied by uncorkAll in the check phase. */
const corked: Duplex[] = [];

function uncorkAll(): void {
  for (let i = 0; i < corked.length; i++) corked[i].uncork();
  corked.length = 0;
}
