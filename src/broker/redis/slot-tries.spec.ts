import { ErrorReply } from 'redis';
import { REDIRECTED, TRY_AGAIN } from './cluster.replies';
import { SlotTries, SlotTryRules } from './slot-tries';

const tryAgain = new ErrorReply('TRYAGAIN Multiple keys request during rehashing of slot');
const ask = new ErrorReply('ASK 3999 127.0.0.1:7002');
const notServed = new ErrorReply('CLUSTERDOWN Hash slot not served');

function rules(overrides: Partial<SlotTryRules> = {}): SlotTryRules {
  return { migrationMs: 1000, closed: () => false, followRefusal: async () => true, ...overrides };
}

describe('SlotTries', () => {
  describe('on a clock the test moves', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('tries a call whose slot migrates again at once, then after pauses doubling from 25 ms, until the deadline from its first refusal', async () => {
      const tries = new SlotTries(rules());
      const started = Date.now();
      const pausesMs: number[] = [];
      for (;;) {
        const before = Date.now();
        const again = tries.afterMigrating(tryAgain, TRY_AGAIN);
        await jest.runAllTimersAsync();
        if (!(await again)) break;
        pausesMs.push(Date.now() - before);
      }
      expect(pausesMs).toEqual([0, 25, 50, 100, 200, 400]);
      // The next pause (800 ms) would end past the 1000 ms from the first refusal.
      expect(Date.now() - started).toBe(775);
    });
  });

  it('goes again only for the replies it is given', async () => {
    const tries = new SlotTries(rules());
    await expect(tries.afterMigrating(ask, TRY_AGAIN)).resolves.toBe(false);
    await expect(tries.afterMigrating(ask, REDIRECTED, TRY_AGAIN)).resolves.toBe(true);
    await expect(tries.afterMigrating(notServed, REDIRECTED, TRY_AGAIN)).resolves.toBe(false);
  });

  it('stops trying once the connection is closed', async () => {
    await expect(new SlotTries(rules({ closed: () => true })).afterMigrating(tryAgain, TRY_AGAIN)).resolves.toBe(false);
  });

  it('follows a refusal once per call, naming the node that refused, and only when the slot map was asked for again', async () => {
    const followRefusal = jest.fn(async () => true);
    const tries = new SlotTries(rules({ followRefusal }));
    await expect(tries.afterRefusal(tryAgain, '10.0.0.4:6379', 7)).resolves.toBe(false);
    await expect(tries.afterRefusal(notServed, '10.0.0.4:6379', 7)).resolves.toBe(true);
    await expect(tries.afterRefusal(notServed, '10.0.0.5:6379', 8)).resolves.toBe(false);
    expect(followRefusal.mock.calls).toEqual([['10.0.0.4:6379', 7]]);

    const unrefreshed = new SlotTries(rules({ followRefusal: async () => false }));
    await expect(unrefreshed.afterRefusal(notServed, undefined, 7)).resolves.toBe(false);
  });
});
