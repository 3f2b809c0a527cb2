import type { WebSocket } from 'ws';
import { Principal } from '../auth/principal';
import { Connection } from './connection';
import { PreparedFrame } from './prepared-frame';

const LIMIT = 1000;

/** A socket whose unsent bytes the test sets, and that keeps whatever it is sent unsent. */
class BufferingSocket {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  closedWith: number | undefined;

  send(frame: string): void {
    this.sent.push(frame);
    this.bufferedAmount += frame.length;
  }

  /** ws's idle Sender and the TCP stream under it, for ready-made frames (a replay's): counted by payload, as `send` counts. */
  readonly _socket = { writableCorked: 1, cork: () => undefined };
  readonly _sender = {
    _state: 0,
    _queue: [],
    sendFrame: ([wire]: Buffer[]) => this.send(wire.subarray(wire[1] < 126 ? 2 : 4).toString()),
  };

  close(code: number): void {
    this.closedWith = code;
    this.readyState = 2;
  }

  /** The client read everything but `left` bytes. */
  drainTo(left: number): void {
    this.bufferedAmount = left;
  }
}

/** A socket whose TCP stream corks as a net.Socket does: its unsent bytes are the stream's (ws's bufferedAmount). */
class CorkingSocket extends BufferingSocket {
  override readonly _socket = {
    writableCorked: 0,
    cork: () => void this._socket.writableCorked++,
    uncork: () => void this._socket.writableCorked--,
    writableLength: 0 as number,
  };

  override send(frame: string): void {
    super.send(frame);
    this._socket.writableLength = this.bufferedAmount;
  }

  override drainTo(left: number): void {
    super.drainTo(left);
    this._socket.writableLength = left;
  }
}

const principal: Principal = { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null };

const REPLAY_DRAIN_MS = 50_000;

function setUp(socket = new BufferingSocket()) {
  const connection = new Connection('c1', socket as unknown as WebSocket, principal, LIMIT, 100, Date.now(), undefined, REPLAY_DRAIN_MS);
  return { socket, connection };
}

/** Runs `test` with Date.now() at 0 ms until `setNow` moves it (in ms from that start). */
function atClock(test: (setNow: (elapsedMs: number) => void) => void): void {
  const start = 1_000_000;
  const clock = jest.spyOn(Date, 'now').mockReturnValue(start);
  try {
    test((elapsedMs) => clock.mockReturnValue(start + elapsedMs));
  } finally {
    clock.mockRestore();
  }
}

const frames = (count: number, size: number) => Array.from({ length: count }, (_, i) => new PreparedFrame(String(i % 10).repeat(size)));

describe('Connection send buffer limit', () => {
  it('closes with 4008 once unsent bytes pass the limit', () => {
    const { socket, connection } = setUp();
    expect(connection.send('x'.repeat(LIMIT + 1))).toBe(true);
    expect(connection.send('y')).toBe(false);
    expect(socket.closedWith).toBe(4008);
  });

  it('sends a replay whole however far past the limit, and live frames while it drains', () => {
    const { socket, connection } = setUp();
    connection.sendReplay(frames(10, 500));
    expect(socket.sent).toHaveLength(10);
    expect(socket.bufferedAmount).toBe(5000);
    socket.drainTo(3000);
    expect(connection.send('live')).toBe(true);
    expect(socket.closedWith).toBeUndefined();
  });

  it('still closes a client that falls further behind than its replay', () => {
    const { socket, connection } = setUp();
    connection.sendReplay(frames(10, 500));
    // Nothing read: the replay (5000) is allowed past the limit (1000), not more.
    expect(connection.send('z'.repeat(900))).toBe(true);
    expect(connection.send('z'.repeat(200))).toBe(true);
    expect(connection.send('z')).toBe(false);
    expect(socket.closedWith).toBe(4008);
  });

  it('spends the allowance once the buffer drained below the limit', () => {
    const { socket, connection } = setUp();
    connection.sendReplay(frames(10, 500));
    socket.drainTo(0);
    expect(connection.send('z'.repeat(LIMIT + 1))).toBe(true);
    expect(connection.send('z')).toBe(false);
    expect(socket.closedWith).toBe(4008);
  });

  it('allows a replay past the limit for the drain time only: a client that never reads is closed at the next send after it', () =>
    atClock((setNow) => {
      const { socket, connection } = setUp();
      connection.sendReplay(frames(10, 500));
      socket.drainTo(4000);
      setNow(REPLAY_DRAIN_MS - 1);
      expect(connection.send('ping')).toBe(true);
      setNow(REPLAY_DRAIN_MS);
      expect(connection.send('ping')).toBe(false);
      expect(socket.closedWith).toBe(4008);
    }));

  it('gives a new replay a new drain time once the buffer drained below the limit', () =>
    atClock((setNow) => {
      const { socket, connection } = setUp();
      connection.sendReplay(frames(10, 500));
      socket.drainTo(0);
      setNow(REPLAY_DRAIN_MS);
      connection.sendReplay(frames(10, 500));
      setNow(2 * REPLAY_DRAIN_MS - 1);
      expect(connection.send('ping')).toBe(true);
      expect(socket.closedWith).toBeUndefined();
    }));

  it("does not count what this turn corked: a burst past the limit in one turn is sent, and what the client has not taken by the next turn counts", async () => {
    const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));
    const reading = setUp(new CorkingSocket());
    const stalled = setUp(new CorkingSocket());
    for (const { connection } of [reading, stalled]) {
      // Three broadcasts of one turn, 1,800 bytes corked: none of it offered to the kernel yet.
      for (let i = 0; i < 3; i++) expect(connection.send(new PreparedFrame('b'.repeat(600)))).toBe(true);
      expect(connection.send('reply')).toBe(true);
    }
    await endOfTurn();
    reading.socket.drainTo(0);
    expect(reading.connection.send('next')).toBe(true);
    expect(reading.socket.closedWith).toBeUndefined();
    // Still unsent a turn later: a backlog past the limit, closed at the next send.
    expect(stalled.connection.send('next')).toBe(false);
    expect(stalled.socket.closedWith).toBe(4008);
  });

  it('refuses a replay to a client already past the limit and its allowance', () => {
    const { socket, connection } = setUp();
    connection.send('x'.repeat(LIMIT + 1));
    connection.sendReplay(frames(3, 10));
    expect(socket.sent).toHaveLength(1);
    expect(socket.closedWith).toBe(4008);
  });
});

describe('Connection frames taken', () => {
  it('takes frames only once welcomed, and none once closing or refusing more', () => {
    const { connection } = setUp();
    expect(connection.state).toBe('admitting');
    expect(connection.takesFrames).toBe(false);
    connection.open();
    expect(connection.takesFrames).toBe(true);
    connection.closeAfterReplies({ code: 4029, reason: 'rate_limited' });
    expect(connection.takesFrames).toBe(false);
    const other = setUp().connection;
    other.open();
    other.socketClosed();
    expect(other.takesFrames).toBe(false);
  });
});
