import type { WebSocket } from 'ws';
import { CloseCode, CloseCodeInfo } from '@herald/client/protocol';
import { Principal } from '../auth/principal';
import { PreparedFrame, sendPrepared } from './prepared-frame';
import { RoomList } from './room-list';
import { TokenBucket } from './token-bucket';

/** Options shared by every send: text frames, uncompressed or, where negotiated, compressed. */
const TEXT_FRAME = { binary: false, compress: false } as const;
const COMPRESSIBLE_TEXT_FRAME = { binary: false, compress: true } as const;

/** One admitted WebSocket: who it is, where it is, and its limits. */
export class Connection {
  /** Rooms this connection has joined (live), its personal room included. */
  readonly rooms = new RoomList();
  lastSeenMs: number;
  closed = false;
  readonly bucket: TokenBucket;

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    public principal: Principal,
    private readonly sendBufferLimitBytes: number,
    rateLimitPerS: number,
    nowMs: number,
    /**
     * Messages of at least this many bytes are compressed: WS_COMPRESSION_MIN_BYTES when this
     * socket negotiated permessage-deflate, otherwise Infinity.
     */
    private readonly compressFromBytes = Infinity,
  ) {
    this.lastSeenMs = nowMs;
    this.bucket = new TokenBucket(rateLimitPerS, nowMs);
  }

  get user(): string {
    return this.principal.user;
  }

  /**
   * Sends a ready-made frame. A client that lets its send buffer grow past the limit is closed
   * with 4008 rather than allowed to hold the pod's memory hostage; it recovers with `since`.
   * Returns false when the frame was not queued.
   */
  send(frame: string | Buffer | PreparedFrame): boolean {
    if (this.closed || this.socket.readyState !== 1) return false;
    if (this.socket.bufferedAmount > this.sendBufferLimitBytes) {
      this.close(CloseCode.SlowConsumer);
      return false;
    }
    if (this.compressFromBytes === Infinity) {
      if (frame instanceof PreparedFrame) sendPrepared(this.socket, frame, TEXT_FRAME);
      else this.socket.send(frame, TEXT_FRAME);
    } else if (frame instanceof PreparedFrame) {
      // A shared frame is uncompressed; a large one is compressed for this socket by ws, which
      // then queues the frames that follow behind it (sendPrepared checks), so order holds.
      if (frame.payload.length < this.compressFromBytes) sendPrepared(this.socket, frame, TEXT_FRAME);
      else this.socket.send(frame.payload, COMPRESSIBLE_TEXT_FRAME);
    } else {
      // ws compresses it when it reaches the negotiated threshold (the same minimum).
      this.socket.send(frame, COMPRESSIBLE_TEXT_FRAME);
    }
    return true;
  }

  close(how: Pick<CloseCodeInfo, 'code' | 'reason'>): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(how.code, how.reason);
  }

  /** Drops the connection without a close handshake (a dead peer would not answer one). */
  terminate(): void {
    this.closed = true;
    this.socket.terminate();
  }
}
