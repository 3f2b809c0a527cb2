import type { WebSocket } from 'ws';
import { CloseCode, CloseCodeInfo } from '@herald/client/protocol';
import { Principal } from '../auth/principal';
import { nextPingSlot } from './ping-rounds';
import { FrameCompression, PreparedFrame, sendPrepared, sendText } from './prepared-frame';
import { TokenBucket } from './token-bucket';
import { bytesCorkedThisTurn } from './turn-cork';
import { streamOf } from './ws.internals';

/**
 * Where a socket holds its connection while the hub knows it (ConnectionHub.add, remove): the
 * gateway's socket class declares it as a field (HeraldSocket), so finding a socket's connection
 * on every frame is a property load, not a map lookup, and costs no map entry per connection.
 */
export const CONNECTION_OF_SOCKET: unique symbol = Symbol('herald.connection');

/** A socket that may hold its connection (see CONNECTION_OF_SOCKET). */
export type SocketOfConnection = WebSocket & { [CONNECTION_OF_SOCKET]?: Connection };

/**
 * Where a connection is in its life; only Connection changes it, and only forwards:
 * - `admitting`: token verified, joining its personal room; its first frame out is `welcome`,
 *   and its socket is paused, so no client frame is read yet (ConnectionAdmission).
 * - `open`: welcomed; frames flow both ways and the heartbeat watches it.
 * - `closing`: this pod closed it or its socket closed; nothing more is sent to it.
 */
export type ConnectionState = 'admitting' | 'open' | 'closing';

/**
 * One WebSocket past its handshake's token check: who it is, its state and its limits. Which
 * rooms it is in is the hub's to know (ConnectionHub.roomsOf), not the connection's.
 */
export class Connection {
  lastSeenMs: number;
  readonly bucket: TokenBucket;
  /** Which tick of every heartbeat pings this connection (see PingRounds). */
  readonly pingSlot = nextPingSlot();
  #state: ConnectionState = 'admitting';
  /** What the last replay left in the send buffer, allowed past the limit until it drains: see sendReplay. */
  #replayAllowance = 0;
  /** When that allowance ends whether or not the buffer drained (see sendReplay). */
  #replayAllowedUntilMs = 0;
  /** Set by closeAfterReplies: no frame of the client's is taken any more. */
  #refusingFrames = false;

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    public principal: Principal,
    private readonly sendBufferLimitBytes: number,
    rateLimitPerS: number,
    nowMs: number,
    /** Set when this socket negotiated permessage-deflate (WS_COMPRESSION). */
    private readonly compression: FrameCompression | undefined = undefined,
    /** How long a replay may keep the send buffer past the limit (see sendReplay). */
    private readonly replayDrainMs = 50_000,
    /**
     * Told when this pod gives up on the connection before its socket can close: a slow
     * consumer's 4008 waits behind the buffer it did not read, up to CLOSE_TIMEOUT_MS, and the
     * connection is gone for everyone else from the moment it is sent (ConnectionAdmission).
     */
    private readonly onGivenUp: ((connection: Connection) => void) | undefined = undefined,
  ) {
    this.lastSeenMs = nowMs;
    this.bucket = new TokenBucket(rateLimitPerS, nowMs);
  }

  get user(): string {
    return this.principal.user;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Welcomed: from now on its frames are read and the heartbeat watches it. */
  open(): void {
    if (this.#state === 'admitting') this.#state = 'open';
  }

  /** Its socket closed, whichever side closed it: nothing more is sent. */
  socketClosed(): void {
    this.#state = 'closing';
  }

  /**
   * Sends a ready-made frame. A client that lets its send buffer grow past the limit is closed
   * with 4008 rather than allowed to hold the pod's memory hostage; it recovers with `since`.
   * Returns false when the frame was not queued.
   */
  send(frame: string | PreparedFrame): boolean {
    if (this.#state === 'closing' || this.socket.readyState !== 1) return false;
    if (this.socket.bufferedAmount > this.sendBufferLimitBytes) {
      if (this.isSlowConsumer()) return false;
    } else if (this.#replayAllowance !== 0) {
      // Drained below the limit since the last replay: its allowance is spent.
      this.#replayAllowance = 0;
    }
    if (frame instanceof PreparedFrame) {
      const compression = this.compression;
      const wire = compression !== undefined && frame.payload.length >= compression.fromBytes ? frame.compressedWire(compression.windowBits) : frame.wire;
      sendPrepared(this.socket, frame, wire);
    } else {
      // One connection's own frames (replies) go uncompressed: compressing them would take a
      // zlib stream per socket.
      sendText(this.socket, frame);
    }
    return true;
  }

  /**
   * Sends a join's replay (what the client missed, then what arrived while it joined) at once,
   * whatever of it the socket cannot take yet. A replay is bounded by the history window
   * (HISTORY_SIZE messages of at most MAX_PUBLISH_BYTES), not by SEND_BUFFER_LIMIT_BYTES: checked
   * frame by frame, a client rejoining a room of big messages over a real network was closed as
   * a slow consumer in the middle of its own recovery, and rejoined to be closed again. What the
   * replay leaves buffered is allowed past the limit until the buffer drains below the limit, for
   * at most `replayDrainMs` (2 x HEARTBEAT_MS, the time a client has to answer a ping): a client
   * that does not read is still closed, once it falls further behind or at the first send after
   * that time (the heartbeat's ping, at the latest). Without the time bound, a client that
   * joined with `since` and never read held its whole replay in this pod's memory for good:
   * 400 such connections held a gigabyte.
   */
  sendReplay(frames: readonly PreparedFrame[]): void {
    if (frames.length === 0 || this.#state === 'closing' || this.socket.readyState !== 1) return;
    const backlog = this.backlog();
    if (backlog > this.sendBufferLimitBytes && this.isSlowConsumer()) return;
    if (backlog <= this.sendBufferLimitBytes) {
      this.#replayAllowance = 0;
      this.#replayAllowedUntilMs = Date.now() + this.replayDrainMs;
    }
    const before = this.socket.bufferedAmount;
    // Ready-made frames shared with other sockets (ReplayFrames, ConnectionHub.deliver), uncompressed.
    for (const frame of frames) sendPrepared(this.socket, frame, frame.wire);
    this.#replayAllowance = Math.max(this.#replayAllowance, this.socket.bufferedAmount - before);
  }

  /**
   * Past the limit: closes with 4008 unless a replay's allowance still covers it, in time (see
   * sendReplay). What this pod corked in this turn does not count (bytesCorkedThisTurn): a burst
   * of broadcasts in one turn (a batch of big notifications) held a megabyte that the kernel
   * would have taken, and closed every member of the room, readers at full speed included.
   * What the kernel then refuses counts at the next send, so a client that does not read is
   * still closed within one turn's writes of the limit.
   */
  private isSlowConsumer(): boolean {
    const buffered = this.backlog();
    if (buffered <= this.sendBufferLimitBytes) return false;
    if (buffered <= this.sendBufferLimitBytes + this.#replayAllowance && Date.now() < this.#replayAllowedUntilMs) return false;
    this.close(CloseCode.SlowConsumer);
    this.onGivenUp?.(this);
    return true;
  }

  /** The bytes the client has yet to take: what the socket holds, less what this turn corked (see isSlowConsumer). */
  private backlog(): number {
    return this.socket.bufferedAmount - bytesCorkedThisTurn(streamOf(this.socket));
  }

  close(how: Pick<CloseCodeInfo, 'code' | 'reason'>): void {
    if (this.#state === 'closing') return;
    this.#state = 'closing';
    closeSocket(this.socket, how);
  }

  /**
   * Whether frames from the client are read and answered: once welcomed, until it closes or
   * refuses more. Its socket is paused while it is admitted, so none should arrive before; the
   * gateway's shared socket handlers get every socket's frames (HeraldSocket), and ask.
   */
  get takesFrames(): boolean {
    return this.#state === 'open' && !this.#refusingFrames;
  }

  /**
   * Takes no more of the client's frames, and closes once the replies to those it took in this
   * turn have gone out (a rate-limited flood: a reply resolves a few microtasks after its frame,
   * and the frames within the limit arrived in the same read as those past it). A reply that
   * waits for the broker is not waited for.
   */
  closeAfterReplies(how: Pick<CloseCodeInfo, 'code' | 'reason'>): void {
    if (!this.takesFrames) return;
    this.#refusingFrames = true;
    setImmediate(() => this.close(how));
  }

  /** Closes with 4001 when the token has expired (and was not refreshed); says whether it did. */
  closeIfExpired(nowMs: number): boolean {
    const { expiresAtMs } = this.principal;
    if (expiresAtMs === null || expiresAtMs > nowMs) return false;
    this.close(CloseCode.TokenExpired);
    return true;
  }

  /** Drops the connection without a close handshake (a dead peer would not answer one). */
  terminate(): void {
    this.#state = 'closing';
    serverCloseCodes.set(this.socket, CloseCode.Abnormal.code);
    this.socket.terminate();
  }
}

/**
 * The code this pod closed each socket with. ws's 'close' event reports the code the peer
 * echoed, or 1006 when it never did: a slow consumer that cannot read its 4008 would be counted
 * as 1006, and a client could report any code it liked.
 */
const serverCloseCodes = new WeakMap<WebSocket, number>();

/** Closes a socket, admitted or not, and remembers the code for closeCodeOf. */
export function closeSocket(socket: WebSocket, how: Pick<CloseCodeInfo, 'code' | 'reason'>): void {
  serverCloseCodes.set(socket, how.code);
  socket.close(how.code, how.reason);
}

/** Why a socket closed: the code this pod closed it with, else the one its 'close' event reports. */
export function closeCodeOf(socket: WebSocket, reportedCode: number): number {
  return serverCloseCodes.get(socket) ?? reportedCode;
}
