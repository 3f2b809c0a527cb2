import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { MESSAGE_TEXT_MAX_CHARS, ROOM_NAME_PATTERN } from '@herald/client/protocol';
import { fuzzParameters, fuzzTimeoutMs, FUZZ_APP_SETTINGS } from '../support/fuzz';
import { anyFrame, contractParse, ContractParse, FrameSpec, renderFrame } from '../support/frame-arbitraries';
import { trickyString } from '../support/json-arbitraries';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient, ServerFrame, TestClient } from '../support/ws-client';

const USER = 'fuzz';
const ROOM_PATTERNS = ['chat:*', 'team:42'];
/** Section 2 asks for an answer; this bounds how long one may take on a busy machine. */
const REPLY_BOUND_MS = 2000;
const MAX_JSON_DEPTH = 32;
const MAX_MESSAGE_BYTES = 65_536;
const REPLY_EVENTS = new Set(['joined', 'left', 'ack', 'refreshed', 'pong', 'error']);
const isReply = (frame: ServerFrame) => REPLY_EVENTS.has(frame.event);

/** Tokens a refresh may carry; only those in `validRefreshTokens` verify for this user. */
const validRefreshTokens = new Set([signToken({ sub: USER, rooms: ROOM_PATTERNS }), signToken({ sub: USER, rooms: ROOM_PATTERNS, ttlS: 86_400 * 365 })]);
const refreshTokens = fc.oneof(
  fc.constantFrom(...validRefreshTokens),
  fc.constantFrom(signToken({ sub: 'someone-else', rooms: ROOM_PATTERNS }), signToken({ sub: USER, ttlS: -10 }), signToken({ sub: USER }, 'another-secret-0123456789abcdef'), ''),
  fc.oneof(trickyString, fc.base64String()),
);

type Outcome = { reply: 'joined' | 'left' | 'ack' | 'refreshed' | 'pong' } | { error: string } | { none: true };

/**
 * Unknown fields named like Object.prototype's members are dropped, not refused: Nest's
 * ValidationPipe deletes `__proto__`, `prototype` and `constructor` before validating, and
 * class-transformer skips keys the instance inherits a method for (`toString`, `valueOf`…), so
 * the validators never see them. Harmless (nothing reads them), but not the "unknown fields are
 * refused" of section 6; a frame carrying one may get either answer.
 */
const DROPPED_BEFORE_VALIDATION = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** The answers the contract allows for a frame that parsed. */
function expectedOutcomes(frame: ContractParse & { ok: true }, rooms: ReadonlySet<string>): Outcome[] {
  const strict = expectedOutcome(frame, rooms);
  const kept = Object.entries(frame.data).filter(([key]) => !DROPPED_BEFORE_VALIDATION.has(key));
  if (kept.length === Object.keys(frame.data).length) return [strict];
  return [strict, expectedOutcome({ ...frame, data: Object.fromEntries(kept) }, rooms)];
}

/**
 * The contract's answer to a frame that parsed (section 2's table and rules), from the
 * connection's rooms before it: the oracle the server's answers are held to.
 */
function expectedOutcome(frame: ContractParse & { ok: true }, rooms: ReadonlySet<string>): Outcome {
  const data = frame.data as Record<string, unknown>;
  const keys = Object.keys(data);
  const badRequest = { error: 'bad_request' };
  const onlyKeys = (...allowed: string[]) => keys.every((key) => allowed.includes(key));
  const isString = (value: unknown): value is string => typeof value === 'string';
  const room = data.room;
  switch (frame.event) {
    // Their data is "none": a field in it is one the event does not have.
    case 'ping':
      return keys.length > 0 ? badRequest : { reply: 'pong' };
    case 'pong':
      return keys.length > 0 ? badRequest : { none: true };
    case 'join':
      if (!onlyKeys('room', 'since') || !isString(room)) return badRequest;
      if ('since' in data && !(isString(data.since) && characters(data.since) <= 64)) return badRequest;
      if (!ROOM_NAME_PATTERN.test(room)) return { error: 'invalid_room' };
      return mayJoin(room) ? { reply: 'joined' } : { error: 'forbidden' };
    case 'leave':
      if (!onlyKeys('room') || !isString(room)) return badRequest;
      if (!ROOM_NAME_PATTERN.test(room)) return { error: 'invalid_room' };
      // A connection stays in its personal room until it closes.
      if (room === `user:${USER}`) return { error: 'forbidden' };
      return rooms.has(room) ? { reply: 'left' } : { error: 'not_member' };
    case 'message': {
      const text = data.text;
      if (!onlyKeys('room', 'text') || !isString(room) || !isString(text) || characters(text) < 1 || characters(text) > MESSAGE_TEXT_MAX_CHARS) return badRequest;
      if (!ROOM_NAME_PATTERN.test(room)) return { error: 'invalid_room' };
      if (room.startsWith('user:')) return { error: 'forbidden' };
      return rooms.has(room) ? { reply: 'ack' } : { error: 'not_member' };
    }
    case 'refresh':
      if (!onlyKeys('token') || !isString(data.token) || data.token === '') return badRequest;
      return validRefreshTokens.has(data.token) ? { reply: 'refreshed' } : { error: 'unauthorized' };
    default:
      return badRequest;
  }
}

function mayJoin(room: string): boolean {
  if (room === `user:${USER}`) return true;
  if (room.startsWith('user:')) return false;
  if (room.startsWith('public:')) return true;
  return ROOM_PATTERNS.some((pattern) => (pattern.endsWith('*') ? room.startsWith(pattern.slice(0, -1)) : room === pattern));
}

/** Characters as the validators count them: a surrogate pair or a presentation sequence is one. */
function characters(text: string): number {
  return text.length - (text.match(/[^\uFE0F\uFE0E][\uFE0F\uFE0E]/g) ?? []).length - (text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g) ?? []).length;
}

/** Rooms a frame names, valid or not, to check afterwards that refused frames changed nothing. */
function roomOf(frame: ContractParse): string | undefined {
  if (!frame.ok) return undefined;
  const room = (frame.data as { room?: unknown }).room;
  return typeof room === 'string' && ROOM_NAME_PATTERN.test(room) ? room : undefined;
}

describe('fuzzed frames on one connection', () => {
  let app: TestApp;
  let client: TestClient;
  /** The model: the connection's rooms, changed only by frames the server accepted. */
  const rooms = new Set<string>([`user:${USER}`]);
  const touched = new Set<string>();
  let uniqueIds = 0;

  beforeAll(async () => {
    // Rate limit and room cap out of reach: this test is about what each frame does, not about floods.
    app = await createTestApp({ ...FUZZ_APP_SETTINGS, RATE_LIMIT_PER_S: '100000', MAX_ROOMS_PER_CONNECTION: '10000', MAX_JSON_DEPTH: String(MAX_JSON_DEPTH), MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
    client = await connectClient(app.wsUrl, signToken({ sub: USER, rooms: ROOM_PATTERNS }));
  });
  afterAll(async () => {
    await client?.close();
    await app?.close();
  });

  /** What goes on the wire for a spec: valid ids made unique on this connection, so each answer can be matched to its frame. */
  function wire(spec: FrameSpec): { binary: Buffer } | { text: string } {
    if (spec.kind === 'binary') return { binary: Buffer.from(spec.bytes) };
    if (spec.kind === 'text') return { text: spec.text };
    const unique = ++uniqueIds;
    let idText: string | undefined;
    if (spec.id?.kind === 'string') idText = JSON.stringify(`${spec.id.value}#${unique}`);
    if (spec.id?.kind === 'number' && Number.isFinite(JSON.parse(spec.id.text))) {
      // Small, negative, fractional, beyond 2^53, near the largest double.
      const numbers = [unique, -unique - 0.5, Number.MAX_SAFE_INTEGER + 2 * unique, 1e300 * (1 + unique / 1e6)];
      idText = JSON.stringify(numbers[unique % numbers.length]);
    }
    return { text: renderFrame(spec, idText) };
  }

  /** Sends one frame and checks its answer against the contract; returns the rooms it named. */
  async function sendAndCheck(spec: FrameSpec): Promise<void> {
    const message = wire(spec);
    // What the server reads: the ws client writes lone surrogates as U+FFFD.
    const received = 'binary' in message ? { binary: message.binary } : { text: Buffer.from(message.text).toString() };
    if ('text' in message && Buffer.byteLength(message.text) > MAX_MESSAGE_BYTES) return; // 1009 by design; limits.e2e-spec covers it
    const parsed = contractParse(received, MAX_JSON_DEPTH);
    const room = roomOf(parsed);
    if (room) touched.add(room);
    const allowed: Outcome[] = parsed.ok ? expectedOutcomes(parsed, rooms) : [{ error: 'bad_request' }];
    client.socket.send('binary' in message ? message.binary : message.text);
    if (allowed.every((outcome) => 'none' in outcome)) return; // a pong: the barrier after the run proves nothing answered it
    const reply = await client.waitFor(isReply, REPLY_BOUND_MS, `the answer to ${JSON.stringify(received).slice(0, 300)}`);
    const context = `frame ${JSON.stringify(received).slice(0, 500)} answered ${JSON.stringify(reply).slice(0, 500)}`;
    if (reply.event === 'error') expect({ context, code: reply.data.code }).not.toEqual({ context, code: 'internal' });
    // The answer carries the frame's id exactly when the frame had a valid one.
    expect({ context, id: reply.id }).toEqual({ context, id: parsed.id });
    const answer: Outcome = reply.event === 'error' ? { error: reply.data?.code } : { reply: reply.event as 'pong' };
    expect({ context, answer }).toEqual({ context, answer: allowed.find((outcome) => JSON.stringify(outcome) === JSON.stringify(answer)) ?? allowed[0] });
    if (reply.event === 'error') expect({ context, echoed: reply.data.event }).toEqual({ context, echoed: parsed.event });
    if (reply.event === 'joined' && room) rooms.add(room);
    if (reply.event === 'left' && room) rooms.delete(room);
  }

  /**
   * GET /v1/rooms/:room/presence with the path sent as written: fetch (any WHATWG URL) would
   * resolve the valid room names `.` and `..` (and `%2E`) as dot segments.
   */
  function presenceOf(room: string): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port: app.port, path: `/v1/rooms/${room}/presence`, headers: { authorization: `Bearer ${publisherToken()}` } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
      });
      request.on('error', reject);
      request.end();
    });
  }

  /** Refused frames changed nothing: presence counts this connection in exactly the model's rooms. */
  async function expectRoomsAsModelled(): Promise<void> {
    for (const room of touched) {
      if (room.startsWith('user:')) continue; // personal rooms have no presence (see RoomsService.announce)
      const { status, body } = await presenceOf(room);
      expect({ room, status, connections: body.connections }).toEqual({ room, status: 200, connections: rooms.has(room) ? 1 : 0 });
    }
  }

  it(
    'answers every frame once, as the contract says, never internal, in time, keeping the connection and changing nothing when it refuses',
    async () => {
      let barriers = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(anyFrame(refreshTokens), { minLength: 1, maxLength: 6 }), async (frames) => {
          for (const frame of frames) await sendAndCheck(frame);
          // Nothing answered twice, and nothing answered a pong: the next answer is the barrier's.
          const barrier = `barrier-${++barriers}`;
          client.send({ event: 'ping', id: barrier });
          expect(await client.waitFor(isReply, REPLY_BOUND_MS, 'the barrier pong')).toEqual({ event: 'pong', id: barrier });
          expect(client.closeInfo).toBeUndefined();
          await expectRoomsAsModelled();
        }),
        fuzzParameters(150, { stateful: true }),
      );
      // Finally the rooms once more through the connection itself: leave answers left exactly where the model says.
      for (const room of new Set([...touched, `user:${USER}`])) {
        const reply = await client.request('leave', { room });
        const expected = room === `user:${USER}` ? 'forbidden' : rooms.has(room) ? 'left' : 'not_member';
        expect({ room, answer: reply.event === 'left' ? 'left' : reply.data.code }).toEqual({ room, answer: expected });
      }
    },
    fuzzTimeoutMs(150, 6 * REPLY_BOUND_MS),
  );
});
