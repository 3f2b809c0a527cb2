import { ErrorReply } from 'redis';
import { TurnGroups } from './turn-groups';
import type { GroupedPublish, PublishReply } from './room.scripts';

function item(room: string, body = '{}'): GroupedPublish {
  return {
    keys: { meta: `{${room}}:meta`, history: `{${room}}:log`, legacyStream: `{${room}}:history` },
    dedupKey: undefined,
    inbox: undefined,
    channel: `room:${room}`,
    messagePrefix: '',
    event: 'notification',
    body,
    fingerprint: '',
  };
}

const LIMITS = { items: 100 };
const roomOf = (publish: GroupedPublish) => publish.keys.meta.slice(1, publish.keys.meta.indexOf('}'));

/** Every call the groups make, answered at once with a position per notification unless `answer` says otherwise. */
function recordedCalls(answer?: (group: readonly GroupedPublish[]) => Promise<PublishReply[]>) {
  const calls: string[][] = [];
  const send = (group: readonly GroupedPublish[]) => {
    calls.push(group.map(roomOf));
    return answer ? answer(group) : Promise.resolve(group.map((_, index) => ({ epoch: 'e', position: index + 1 })));
  };
  return { calls, send };
}

describe('TurnGroups', () => {
  it('sends the publishes of one turn as one call, in the order handed over, and answers each its own reply', async () => {
    const { calls, send } = recordedCalls();
    const groups = new TurnGroups(send, () => 0, LIMITS);
    const replies = Promise.all(['a', 'b', 'a', 'c'].map((room) => groups.add(item(room))));
    // Nothing leaves before the turn's work is done.
    expect(calls).toEqual([]);
    await expect(replies).resolves.toEqual([1, 2, 3, 4].map((position) => ({ epoch: 'e', position })));
    expect(calls).toEqual([['a', 'b', 'a', 'c']]);
  });

  it("gathers publishes handed over from the turn's promise callbacks too, and starts a new call in a later turn", async () => {
    const { calls, send } = recordedCalls();
    const groups = new TurnGroups(send, () => 0, LIMITS);
    const a = groups.add(item('a'));
    const b = Promise.resolve().then(() => groups.add(item('b')));
    const c = groups.add(item('c'));
    await Promise.all([a, b, c]);
    await new Promise((resolve) => setImmediate(resolve));
    await groups.add(item('d'));
    expect(calls).toEqual([['a', 'c', 'b'], ['d']]);
  });

  it('keeps apart the publishes that may not share a call (a Cluster slot each), each group in order', async () => {
    const { calls, send } = recordedCalls();
    const groups = new TurnGroups(send, (publish: GroupedPublish) => (roomOf(publish).startsWith('x') ? 1 : 2), LIMITS);
    await Promise.all(['x1', 'y1', 'x2', 'y2', 'x3'].map((room) => groups.add(item(room))));
    expect(calls).toEqual([
      ['x1', 'x2', 'x3'],
      ['y1', 'y2'],
    ]);
  });

  it('splits a turn at the most notifications and body bytes a call may carry; a larger lone notification goes alone', async () => {
    const { calls, send } = recordedCalls();
    const groups = new TurnGroups(send, () => 0, { items: 2, bytes: { most: 10, of: (publish: GroupedPublish) => publish.body.length } });
    await Promise.all([item('a'), item('b'), item('c'), item('d', 'x'.repeat(9)), item('e', 'x'.repeat(30)), item('f')].map((publish) => groups.add(publish)));
    // 'c' (2 B) and 'd' (9 B) together pass 10 bytes; 'e' alone passes them.
    expect(calls).toEqual([['a', 'b'], ['c'], ['d'], ['e'], ['f']]);
  });

  it('fails a notification Redis refused alone, and every notification of a call that failed', async () => {
    let call = 0;
    const { send } = recordedCalls(async (group) => {
      if (++call === 2) throw new Error('connection lost');
      return group.map((publish) => (roomOf(publish) === 'bad' ? new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value') : 'duplicate'));
    });
    const groups = new TurnGroups(send, () => 0, LIMITS);
    const first = await Promise.all(['a', 'bad', 'b'].map((room) => groups.add(item(room))));
    expect(first[0]).toBe('duplicate');
    expect(first[1]).toBeInstanceOf(ErrorReply);
    expect(first[2]).toBe('duplicate');
    const second = ['c', 'd'].map((room) => groups.add(item(room)));
    for (const reply of second) await expect(reply).rejects.toThrow('connection lost');
  });

  it('fails the group when the call cannot even be sent, and answers a missing reply with an error', async () => {
    const throwing = new TurnGroups(
      () => {
        throw new Error('not connected');
      },
      () => 0,
      LIMITS,
    );
    await expect(throwing.add(item('a'))).rejects.toThrow('not connected');
    const short = new TurnGroups(async (group: readonly GroupedPublish[]) => group.slice(1).map(() => 'duplicate' as const), () => 0, LIMITS);
    const [answered, unanswered] = [short.add(item('a')), short.add(item('b'))];
    await expect(answered).resolves.toBe('duplicate');
    await expect(unanswered).rejects.toThrow('The script answered 1 of 2 items');
  });
});
