import { Injectable, Logger } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { WsException } from '@nestjs/websockets';
import { isObservable } from 'rxjs';
import type { RawData, WebSocket } from 'ws';
import { CLIENT_EVENTS, CloseCode, FrameId, ServerEventName, ServerEvents } from '@herald/client/protocol';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from '../connections/connection';
import { ConnectionHub } from '../connections/connection.hub';
import { MetricsService } from '../metrics/metrics.service';
import { hollowFields } from '../http/lean-validation.pipe';
import { JoinDto } from './dto/join.dto';
import { callHandler, FrameOrigin } from './frame-context';
import { parseFrame } from './frame.parser';
import { FrameSender } from './frame.sender';
import { HeraldGateway } from './herald.gateway';
import { WsErrorFilter } from './ws-error.filter';
import { mayHandleFrameOf } from './ws-jwt.guard';

/** What a gateway handler returns to answer a frame (the dispatcher adds the frame's id). */
export type Reply<E extends ServerEventName = ServerEventName> = { event: E; data: ServerEvents[E] };

const KNOWN_EVENTS = new Set<string>(CLIENT_EVENTS);

/** The frames about one room whose effects must follow the order they were sent in (see inOrder). */
const ROOM_EVENTS: ReadonlySet<string> = new Set(['join', 'leave', 'message']);

const ignore = (): void => undefined;

/** The client events whose `data` is "none" in section 2's table. */
const NO_DATA_EVENTS: ReadonlySet<string> = new Set(['ping', 'pong']);

function firstKeyOf(data: object): string | undefined {
  for (const key in data) return key;
  return undefined;
}

/**
 * Every frame an open connection sends, from the socket to the gateway's handler: liveness,
 * the rate limit (section 2), parsing, then dispatch, so the gateway only ever sees well-formed
 * known events. Protocol pings and pongs count here too, and so does the `pong` frame, which is
 * liveness only and needs no handler.
 */
@Injectable()
export class FrameDispatcher {
  private readonly logger = new Logger(FrameDispatcher.name);
  /** The gateway's handlers by event (only the contract's events). */
  private readonly handlers = new Map<string, MessageMappingProperties>();
  /** Per connection, per room: when its last join, leave or message still under way is done (inOrder). */
  private readonly roomFramesUnderWay = new WeakMap<Connection, Map<string, Promise<void>>>();
  /** Per connection: when its leaves still under way are done, which its later joins wait for (inOrder). */
  private readonly leavesUnderWay = new WeakMap<Connection, Promise<void>>();

  /*
   * Every socket's frames, shared by all sockets (HeraldSocket calls them with the socket as
   * `this`): no closures or listeners per connection, which at tens of thousands of idle
   * sockets is real memory. A socket's frames flow once admission resumes it.
   */
  readonly onMessage: (this: WebSocket, raw: RawData, isBinary: boolean) => void;
  readonly onPing: (this: WebSocket, data: Buffer) => void;
  readonly onPong: (this: WebSocket) => void;

  constructor(
    private readonly config: HeraldConfig,
    private readonly hub: ConnectionHub,
    private readonly metrics: MetricsService,
    private readonly frames: FrameSender,
    private readonly gateway: HeraldGateway,
    private readonly errors: WsErrorFilter,
  ) {
    const dispatcher = this;
    this.onMessage = function (raw, isBinary) {
      const connection = hub.connectionFor(this);
      if (connection) dispatcher.dispatch(connection, raw, isBinary);
    };
    /*
     * Protocol pings and pongs are client frames like any other (section 2's rate limit): ws's
     * own automatic pong would instead answer a flood until its pending-pong cap, then drop the
     * TCP connection with no close frame (1006), telling the client nothing. The answer to each
     * heartbeat's ping costs one token, and a flood of unsolicited pongs is closed like any other.
     * 'ok' when the frame may be answered.
     */
    const takeControlFrame = (socket: WebSocket): 'ok' | 'drop' | 'closed' => {
      const connection = hub.connectionFor(socket);
      if (!connection?.takesFrames) return 'closed';
      const now = Date.now();
      connection.lastSeenMs = now;
      if (connection.closeIfExpired(now)) return 'closed';
      const allowance = connection.bucket.take(now);
      if (allowance === 'close') {
        connection.closeAfterReplies(CloseCode.RateLimited);
        return 'closed';
      }
      if (allowance === 'drop') metrics.rateLimited.inc();
      return allowance;
    };
    // A ping past the rate limit gets no pong, as a frame past it gets no reply.
    this.onPing = function (data) {
      if (takeControlFrame(this) === 'ok') this.pong(data);
    };
    this.onPong = function () {
      takeControlFrame(this);
    };
  }

  /** Takes the gateway's handlers, once (HeraldWsAdapter.bindMessageHandlers). */
  bind(handlers: MessageMappingProperties[]): void {
    if (this.handlers.size > 0) throw new Error('FrameDispatcher serves one gateway');
    for (const handler of handlers) {
      if (KNOWN_EVENTS.has(handler.message as string)) this.handlers.set(handler.message as string, handler);
    }
  }

  private dispatch(connection: Connection, raw: RawData, isBinary: boolean): void {
    const now = Date.now();
    connection.lastSeenMs = now;
    if (!connection.takesFrames) return;
    // Past its token's `exp`, any frame closes it at once (4001), before any answer: a frame that
    // is malformed, unknown or over the rate limit got its `error` first.
    if (connection.closeIfExpired(now)) return;
    const allowance = connection.bucket.take(now);
    if (allowance === 'close') {
      // Frames taken before this one, in the same read, still get their replies.
      connection.closeAfterReplies(CloseCode.RateLimited);
      return;
    }
    const parsed = parseFrame(raw, isBinary, this.config.maxJsonDepth);
    if (allowance === 'drop') {
      this.metrics.rateLimited.inc();
      this.frames.error(connection, 'rate_limited', 'Too many frames: slow down', parsed.ok ? parsed.event : undefined, parsed.id);
      return;
    }
    if (!parsed.ok) {
      this.frames.error(connection, 'bad_request', parsed.problem, parsed.event, parsed.id);
      return;
    }
    if (NO_DATA_EVENTS.has(parsed.event)) {
      // Section 2: `ping` and `pong` carry no data; a field in it is one the event does not have.
      const field = firstKeyOf(parsed.data);
      if (field !== undefined) {
        this.frames.error(connection, 'bad_request', `property ${field} should not exist (${parsed.event} carries no data)`, parsed.event, parsed.id);
        return;
      }
    }
    if (parsed.event === 'pong') {
      // Liveness, like a protocol pong (marked above), with no reply: all its handler did was
      // WsJwtGuard's expiry check, made for every frame above. The SDK answers every heartbeat's
      // `ping` frame, so through Nest's handler pipeline each idle connection paid it once per heartbeat.
      this.metrics.framesIn.inc(parsed.event);
      return;
    }
    if (parsed.event === 'join') {
      const join = JoinDto.acceptIfPlainlyValid(parsed.data);
      if (join) {
        this.metrics.framesIn.inc(parsed.event);
        const origin = new FrameOrigin(connection, parsed.id);
        this.inOrder(connection, join.room, () => this.join(origin, join, now), 'join');
        return;
      }
    }
    const handler = this.handlers.get(parsed.event);
    if (!handler) {
      this.frames.error(connection, 'bad_request', `Unknown event "${parsed.event}"`, parsed.event, parsed.id);
      return;
    }
    this.metrics.framesIn.inc(parsed.event);
    const { event, data, id } = parsed;
    const handle = () => this.handle(connection, handler, event, data, id);
    if (ROOM_EVENTS.has(event)) this.inOrder(connection, roomNamed(data), handle, event);
    else void handle();
  }

  /** Runs a frame through Nest's pipeline to its handler; resolves once the reply was sent. */
  private handle(connection: Connection, handler: MessageMappingProperties, event: string, data: object, id: FrameId | undefined): Promise<void> | undefined {
    let returned: unknown;
    try {
      // Every field of every frame's data is a string (gateway/dto): an object or list in it is
      // refused in the same words whatever it holds, and a 64 KB frame of 7,000 little lists,
      // within the depth limit, held the event loop 30 ms in validation (40 of them, a burst the
      // rate limit allows, 1.3 s).
      hollowFields(data as Record<string, unknown>);
      returned = callHandler(handler, data, event, new FrameOrigin(connection, id));
    } catch (error) {
      // Nest's proxy catches handler errors; reaching here means a bug in the pipeline itself.
      this.logger.error({ message: 'Handler pipeline threw', event, error: String(error) });
      this.frames.error(connection, 'internal', 'Internal error', event, id);
      return undefined;
    }
    return this.reply(connection, event, id, returned);
  }

  /**
   * Runs a join, leave or message after the connection's previous one about the same room is
   * done, and at once when none is under way. A client may send `leave` then `join`, or `join`
   * then `message`, without waiting for the replies: each takes effect in the order it was sent,
   * on either broker. Their handling takes different times (a plain join can finish in this
   * turn, Nest's pipeline a few microtasks later, a join on Redis a round trip later), and a
   * later frame overtaking an earlier one left a connection answered `joined` yet not a member,
   * or refused a message sent right after its join. Frames about other rooms do not wait, but
   * for a join, which waits for the connection's leaves sent before it: at
   * MAX_ROOMS_PER_CONNECTION, `leave` then `join` of another room swaps them, where the join
   * (done in its own turn) overtook the leave (a few microtasks through Nest) and was refused.
   */
  private inOrder(connection: Connection, room: string | undefined, handle: () => Promise<void> | undefined, event: string): void {
    if (room === undefined) {
      void handle();
      return;
    }
    let underWay = this.roomFramesUnderWay.get(connection);
    const previous = underWay?.get(room);
    const leaving = event === 'join' ? this.leavesUnderWay.get(connection) : undefined;
    const after = previous && leaving ? Promise.all([previous, leaving]) : (previous ?? leaving);
    const running = after ? after.then(handle) : handle();
    if (running === undefined) return;
    const done = running.then(ignore, ignore);
    if (event === 'leave') this.trackLeave(connection, done);
    if (!underWay) this.roomFramesUnderWay.set(connection, (underWay = new Map()));
    const frames = underWay;
    frames.set(room, done);
    void done.then(() => {
      if (frames.get(room) !== done) return;
      frames.delete(room);
      if (frames.size === 0) this.roomFramesUnderWay.delete(connection);
    });
  }

  /** Keeps `done` among the connection's leaves under way (see inOrder) until it and those before it settle. */
  private trackLeave(connection: Connection, done: Promise<void>): void {
    const before = this.leavesUnderWay.get(connection);
    const leaves = before ? Promise.all([before, done]).then(ignore) : done;
    this.leavesUnderWay.set(connection, leaves);
    void leaves.then(() => {
      if (this.leavesUnderWay.get(connection) === leaves) this.leavesUnderWay.delete(connection);
    });
  }

  /**
   * A join whose data is plainly valid (JoinDto.acceptIfPlainlyValid, the global pipe's own
   * short way through) goes to the gateway's handler from here, with the guard's check before it
   * and the filter's answer to its failure: what Nest's pipeline would run for it, without the
   * execution contexts and chains of promises it builds per call (about a tenth of a connect +
   * join's CPU, and 8 KB of garbage). Every connection joins; other frames, and joins that need
   * the pipe to word their error, go through Nest.
   */
  private join(origin: FrameOrigin, data: JoinDto, now: number): Promise<void> | undefined {
    if (!mayHandleFrameOf(origin.connection, now)) {
      // What Nest throws for a guard that says no.
      this.errors.answer(new WsException('Forbidden resource'), origin, 'join');
      return undefined;
    }
    let joining;
    try {
      joining = this.gateway.join(origin, data);
    } catch (error) {
      this.errors.answer(error, origin, 'join');
      return undefined;
    }
    return joining?.catch((error: unknown) => this.errors.answer(error, origin, 'join'));
  }

  /**
   * Sends what a handler answered, as Nest's reply transform would (its result awaited; an
   * Observable sends each value), without that transform: it wraps every answer in two more
   * Observables and a Promise (`fromPromise(pickResult(result)).pipe(mergeAll())`), which cost
   * about 5% of a connect + join; an Observable (what Nest's interceptors hand back) is
   * subscribed to directly, which is what mergeAll would do with it.
   */
  private async reply(connection: Connection, event: string, id: FrameId | undefined, returned: unknown): Promise<void> {
    let result: unknown;
    try {
      result = await returned;
      if (result instanceof Promise) result = await result;
    } catch (error) {
      this.logger.error({ message: 'Reply stream failed', event, error: String(error) });
      return;
    }
    if (isObservable(result)) {
      result.subscribe({
        next: (reply) => {
          if (isReply(reply)) this.frames.send(connection, reply.event, reply.data, id);
        },
        error: (error: unknown) => this.logger.error({ message: 'Reply stream failed', event, error: String(error) }),
      });
      return;
    }
    if (isReply(result)) this.frames.send(connection, result.event, result.data, id);
  }
}

/** The `room` a join, leave or message names, when it names one; the handler refuses the rest. */
function roomNamed(data: object): string | undefined {
  const room = (data as { room?: unknown }).room;
  return typeof room === 'string' ? room : undefined;
}

/** A handler's result that is a reply; handlers are typed to return only Reply (HeraldGateway). */
function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && typeof (value as { event?: unknown }).event === 'string';
}
