import { constants as zlib, deflateRawSync } from 'node:zlib';
import type { WebSocket } from 'ws';
import { corkForThisTurn } from './turn-cork';
import { frameHeaderAndPayload, senderIsIdle, streamOf, writeFrame } from './ws.internals';

/**
 * One broadcast's WebSocket frame, built once and written as-is to every member's socket
 * (STYLE 5, issue 5). `ws` frames per send: a header Buffer, cork, two writes, uncork, and an
 * options object per socket; fan-out to thousands of sockets paid that thousands of times.
 * Socket.IO's engine.io writes pre-built frames the same way (`wsPreEncodedFrame`).
 */
export class PreparedFrame {
  /** The frame's JSON text as UTF-8 (a view of `wire`), for the rare socket whose sender is busy. */
  readonly payload: Buffer;
  /** Header and payload in one Buffer, in the one-element list `Sender#sendFrame` takes. */
  readonly wire: readonly [Buffer];

  /** The compressed frames, by deflate window bits; built on first use (see compressedWire). */
  private compressedWires: Map<number, readonly [Buffer]> | undefined;

  /**
   * `content`: the frame's text, or the wire of a frame built here before, whose bytes this one
   * then shares (ReplayFrames: a replay in a later turn of what sockets still hold).
   */
  constructor(content: string | Buffer) {
    // Server frames are never masked; this one is not compressed (RSV1 clear), which is valid
    // on every socket, permessage-deflate or not.
    const wire = typeof content === 'string' ? frameOf(Buffer.from(content), false) : content;
    this.wire = [wire];
    // A view, not a second copy: a broadcast of a 64 KB message held 128 KB until it was sent.
    this.payload = wire.subarray(headerBytesOf(wire));
  }

  /**
   * The same message compressed for permessage-deflate sockets that negotiated this window.
   * The server never keeps a compression context between messages (server_no_context_takeover
   * is always agreed), so the compressed bytes depend only on the payload and the window: they
   * are made once per broadcast, like the plain frame, rather than once per socket, and no
   * socket holds a zlib stream of its own for them.
   */
  compressedWire(windowBits: number): readonly [Buffer] {
    let wire = this.compressedWires?.get(windowBits);
    if (!wire) {
      const deflated = deflateRawSync(this.payload, { windowBits, finishFlush: zlib.Z_SYNC_FLUSH });
      // RFC 7692, 7.2.1: the message leaves out the 00 00 ff ff tail of the sync flush.
      wire = [frameOf(deflated.subarray(0, deflated.length - 4), true)];
      (this.compressedWires ??= new Map()).set(windowBits, wire);
    }
    return wire;
  }
}

/** How a permessage-deflate socket gets its broadcasts: compressed from `fromBytes` up. */
export interface FrameCompression {
  readonly fromBytes: number;
  /** server_max_window_bits as agreed with this client (15 unless it asked for less). */
  readonly windowBits: number;
}

/** A final, unmasked text frame, header and payload in one Buffer; `compressed` sets RSV1. */
function frameOf(data: Buffer, compressed: boolean): Buffer {
  return Buffer.concat(frameHeaderAndPayload(data, TEXT_OPCODE, compressed));
}

const TEXT_OPCODE = 1;

/** The length of an unmasked frame's header: 2 bytes, then 2 or 8 more for a 16- or 64-bit length. */
function headerBytesOf(frame: Buffer): number {
  const length = frame[1] & 0x7f;
  return length === 126 ? 4 : length === 127 ? 10 : 2;
}

/**
 * A final, unmasked, uncompressed text frame of `text`, header and payload in one Buffer, framed
 * by ws's own Sender as every other frame here (frameOf).
 */
export function textFrame(text: string): Buffer {
  return frameOf(Buffer.from(text), false);
}

/**
 * Sends one connection's own frame (welcome, a reply, an error) as broadcasts go: one Buffer
 * handed to the idle Sender, the socket corked until the end of the turn, so a join's reply
 * leaves in the write call that carries its replay, and a handshake's `welcome` in the 101's.
 * ws.send built an options object per frame and queued header and payload as two writes. A busy
 * Sender (it never is: ws compresses nothing here) gets the text through ws.send, unframed.
 */
export function sendText(socket: WebSocket, text: string): void {
  if (senderIsIdle(socket)) writeCorked(socket, [textFrame(text)]);
  else socket.send(text, PLAIN_TEXT);
}

/** ws.send options for the fallback: a text frame ws does not compress (see compressedWire). */
const PLAIN_TEXT = { binary: false, compress: false } as const;

/**
 * Writes a pre-built frame (`wire`: the plain or the compressed one) when the socket's sender is
 * idle, which is always the case since ws itself never compresses here; otherwise hands the
 * plain payload to `ws.send`, which queues it behind the frame in progress. Bytes written either
 * way count in `socket.bufferedAmount`.
 *
 * The TCP socket stays corked until the end of this event-loop turn, so the frames of several
 * broadcasts handled in one turn (a burst of publishes, a batch of Redis messages) leave in one
 * write call per socket instead of one each: under load the syscalls, not the JavaScript, are
 * most of a broadcast's cost. (A broadcast after a pause is sent as it goes: sendBroadcast.)
 */
export function sendPrepared(socket: WebSocket, frame: PreparedFrame, wire: readonly Buffer[]): void {
  if (senderIsIdle(socket)) writeCorked(socket, wire);
  else socket.send(frame.payload, PLAIN_TEXT);
}

/** A ready frame to an idle Sender, the TCP socket corked until the end of this turn. */
function writeCorked(socket: WebSocket, wire: readonly Buffer[]): void {
  corkForThisTurn(streamOf(socket));
  writeFrame(socket, wire);
}
