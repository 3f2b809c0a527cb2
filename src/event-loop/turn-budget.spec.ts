import { nextTurnInLine } from './turn-budget';

describe('nextTurnInLine', () => {
  it('lets one waiter go on per turn of the event loop, in the order they asked, with what the loop reads in between', async () => {
    // Counts the loop's turns: an immediate set from an immediate runs in the next turn, after
    // that turn's socket reads.
    let turn = 0;
    let counting = true;
    const count = () => {
      turn++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const wentOnAt: Array<[string, number]> = [];
    const waiters = ['a', 'b', 'c', 'd'].map((name) => nextTurnInLine().then(() => wentOnAt.push([name, turn])));
    await Promise.all(waiters);
    counting = false;
    expect(wentOnAt.map(([name]) => name)).toEqual(['a', 'b', 'c', 'd']);
    const turns = wentOnAt.map(([, at]) => at);
    // Each in a turn of its own: the loop went round (and read its sockets) between any two.
    for (let index = 1; index < turns.length; index++) expect(turns[index]).toBeGreaterThan(turns[index - 1]);
  });
});
