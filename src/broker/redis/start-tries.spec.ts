import { DeadlineExpiredError } from '../deadline';
import { ClosedWhileStartingError } from './redis.connection';
import { StartTries } from './start-tries';

const failing = (failures: number) => {
  let calls = 0;
  const step = jest.fn(async () => {
    if (++calls <= failures) throw new Error(`miss ${calls}`);
    return 'started';
  });
  return step;
};

describe('StartTries', () => {
  it('tries a failing step again after each pause, up to its attempts, and tells each retry', async () => {
    const onRetry = jest.fn();
    const pauseMs = jest.fn(() => 1);
    const step = failing(2);
    await expect(new StartTries(3).run(step, { pauseMs, onRetry })).resolves.toBe('started');
    expect(step).toHaveBeenCalledTimes(3);
    expect(pauseMs.mock.calls).toEqual([[1], [2]]);
    expect(onRetry.mock.calls.map(([attempt, error]) => [attempt, (error as Error).message])).toEqual([[1, 'miss 1'], [2, 'miss 2']]);
  });

  it('has a budget of every try and every pause at their longest', () => {
    expect(new StartTries(5).budgetMs(2_000, 500)).toBe(12_500);
  });

  it('fails with the last try\'s error once its attempts are spent', async () => {
    const step = failing(5);
    await expect(new StartTries(3).run(step, { pauseMs: () => 1, onRetry: () => undefined })).rejects.toThrow('miss 3');
    expect(step).toHaveBeenCalledTimes(3);
  });

  it('fails at once with an error no later try can mend', async () => {
    const step = failing(5);
    await expect(new StartTries(3).run(step, { pauseMs: () => 1, isFinal: () => true, onRetry: () => undefined })).rejects.toThrow('miss 1');
    expect(step).toHaveBeenCalledTimes(1);
  });

  it('fails as closed, with no further try, when a step reports its connection closed', async () => {
    const step = jest.fn(async () => {
      throw new ClosedWhileStartingError();
    });
    await expect(new StartTries(3).run(step, { pauseMs: () => 1, onRetry: () => undefined })).rejects.toBeInstanceOf(ClosedWhileStartingError);
    expect(step).toHaveBeenCalledTimes(1);
  });

  describe('on a clock the test moves', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('keeps every try and pause within its budget: a pause is cut to what is left, and a try that outlasts it is the last', async () => {
      let calls = 0;
      // The first try fails at 400 ms; the second never settles.
      const step = jest.fn(() => (++calls === 1 ? new Promise<never>((_, reject) => setTimeout(() => reject(new Error('miss 1')), 400)) : new Promise<never>(() => undefined)));
      const started = new StartTries(5).run(step, { within: { ms: 1000, what: 'the discovery' }, pauseMs: () => 60_000, onRetry: () => undefined });
      const failed = expect(started).rejects.toEqual(new DeadlineExpiredError('the discovery', 1000));
      // The pause of a minute is cut to the 600 ms left; the second try then has none left at all.
      await jest.advanceTimersByTimeAsync(1001);
      await failed;
      expect(step).toHaveBeenCalledTimes(2);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('ends a pause at once when closed, clearing its timer, and tries no more', async () => {
      const tries = new StartTries(3);
      const step = failing(5);
      const started = tries.run(step, { pauseMs: () => 60_000, onRetry: () => undefined });
      // The first try has failed and the pause begun.
      await jest.advanceTimersByTimeAsync(0);
      expect(jest.getTimerCount()).toBe(1);
      tries.close();
      await expect(started).rejects.toBeInstanceOf(ClosedWhileStartingError);
      expect(step).toHaveBeenCalledTimes(1);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('makes no pause once closed before it begins', async () => {
      const tries = new StartTries(3);
      const step = failing(5);
      const started = tries.run(step, { pauseMs: () => 60_000, onRetry: () => tries.close() });
      await expect(started).rejects.toBeInstanceOf(ClosedWhileStartingError);
      expect(step).toHaveBeenCalledTimes(1);
      expect(jest.getTimerCount()).toBe(0);
    });
  });

  it('fails as closed when closed while a try is under way', async () => {
    const tries = new StartTries(3);
    const step = jest.fn(async () => {
      tries.close();
      throw new Error('the connection went with the close');
    });
    await expect(tries.run(step, { pauseMs: () => 1, onRetry: () => undefined })).rejects.toBeInstanceOf(ClosedWhileStartingError);
    expect(step).toHaveBeenCalledTimes(1);
  });
});
