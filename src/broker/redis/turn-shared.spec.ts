import { TurnShared } from './turn-shared';

/** The next turn of the event loop: a later caller's. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('TurnShared', () => {
  it("shares one call per key among one turn's callers, and makes a new one for a later turn", async () => {
    const shared = new TurnShared<string>();
    const calls: string[] = [];
    const call = (key: string) => () => {
      calls.push(key);
      return Promise.resolve();
    };
    await Promise.all([shared.run('a', call('a')), shared.run('a', call('a')), shared.run('b', call('b')), shared.run('a', call('a'))]);
    expect(calls).toEqual(['a', 'b']);
    await nextTurn();
    await shared.run('a', call('a'));
    expect(calls).toEqual(['a', 'b', 'a']);
  });

  it("fails every caller of the turn with the shared call's error, and keeps nothing of it", async () => {
    const shared = new TurnShared<string>();
    const failing = () => Promise.reject(new Error('no answer'));
    const results = await Promise.allSettled([shared.run('a', failing), shared.run('a', () => Promise.resolve())]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    await nextTurn();
    await expect(shared.run('a', () => Promise.resolve())).resolves.toBeUndefined();
  });
});
