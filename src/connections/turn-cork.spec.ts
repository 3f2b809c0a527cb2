import type { Duplex } from 'node:stream';
import { corkForThisTurn, corkUntil, sendBroadcast } from './turn-cork';

/** A TCP stream as far as corking goes: how deep it is corked, and how many times it was uncorked. */
function stream() {
  const state = { writableCorked: 0, uncorks: 0, cork: () => void state.writableCorked++, uncork: () => void (state.writableCorked--, state.uncorks++) };
  return state;
}
const cork = (s: ReturnType<typeof stream>) => corkForThisTurn(s as unknown as Duplex);
const checkPhase = () => new Promise((resolve) => setImmediate(resolve));

/** Sends a broadcast to one socket: true when its frame left during the broadcast, false when it waits for the check phase. */
function broadcastLeavesAtOnce(): boolean {
  const member = stream();
  sendBroadcast(() => cork(member));
  return member.writableCorked === 0;
}

describe('sendBroadcast', () => {
  let nowMs = 1_000_000;
  beforeEach(() => jest.spyOn(performance, 'now').mockImplementation(() => nowMs));
  afterEach(() => jest.restoreAllMocks());
  /** Ends this turn (its check phase), then lets `ms` pass before the next. */
  const nextTurnAfter = async (ms: number) => {
    await checkPhase();
    nowMs += ms;
  };

  it("sends the first broadcast of a turn after a pause as it goes, and leaves the turn's others for the check phase", async () => {
    await nextTurnAfter(1000);
    expect(broadcastLeavesAtOnce()).toBe(true);
    expect(broadcastLeavesAtOnce()).toBe(false);
    expect(broadcastLeavesAtOnce()).toBe(false);
    await checkPhase();
  });

  it('leaves every broadcast of a turn that starts right after one that broadcast for the check phase, as a busy pod does', async () => {
    await nextTurnAfter(1000);
    expect(broadcastLeavesAtOnce()).toBe(true);
    // Back to back: the next turn broadcasts a fraction of a millisecond after that one ended.
    await nextTurnAfter(0.2);
    expect(broadcastLeavesAtOnce()).toBe(false);
    await nextTurnAfter(0.5);
    expect(broadcastLeavesAtOnce()).toBe(false);
    // A pause: the pod had nothing to broadcast for a while.
    await nextTurnAfter(5);
    expect(broadcastLeavesAtOnce()).toBe(true);
    await checkPhase();
  });

  it('measures the pause from the end of the last turn that broadcast, not of turns that only corked a reply', async () => {
    await nextTurnAfter(1000);
    expect(broadcastLeavesAtOnce()).toBe(true);
    await nextTurnAfter(5);
    const reply = stream();
    cork(reply);
    await checkPhase();
    expect(reply.writableCorked).toBe(0);
    nowMs += 0.2;
    expect(broadcastLeavesAtOnce()).toBe(true);
    await checkPhase();
  });

  it('hands the sockets of a broadcast sent as it goes to the kernel 128 at a time, each once', async () => {
    await nextTurnAfter(1000);
    const members = Array.from({ length: 300 }, stream);
    let firstBatchSentBy: number | undefined;
    sendBroadcast(() =>
      members.forEach((member, index) => {
        cork(member);
        if (firstBatchSentBy === undefined && members[0].writableCorked === 0) firstBatchSentBy = index;
      }),
    );
    // The first 128 left when the 129th was corked, before the rest were gone through.
    expect(firstBatchSentBy).toBe(128);
    expect(members.map((member) => [member.writableCorked, member.uncorks])).toEqual(members.map(() => [0, 1]));
    // Corked again later in the turn: uncorked once more, at its end.
    cork(members[0]);
    await checkPhase();
    expect(members[0]).toMatchObject({ writableCorked: 0, uncorks: 2 });
  });
});

describe('corkUntil', () => {
  it.each([
    ['settles', (settle: { resolve(): void; reject(): void }) => settle.resolve()],
    ['fails', (settle: { resolve(): void; reject(): void }) => settle.reject()],
  ])("holds a stream corked for its turn past the turn's end until what it waits for %s, then writes", async (_, settleIt) => {
    const socket = stream();
    let settle!: { resolve(): void; reject(): void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined);
    cork(socket);
    corkUntil(socket as unknown as Duplex, done);
    await checkPhase();
    expect(socket.writableCorked).toBe(1);
    settleIt(settle);
    await checkPhase();
    expect(socket.writableCorked).toBe(0);
  });
});
