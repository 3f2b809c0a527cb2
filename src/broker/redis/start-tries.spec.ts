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

  it('ends a pause at once when closed, clearing its timer, and tries no more', async () => {
    jest.useFakeTimers();
    try {
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
    } finally {
      jest.useRealTimers();
    }
  });

  it('makes no pause once closed before it begins', async () => {
    jest.useFakeTimers();
    try {
      const tries = new StartTries(3);
      const step = failing(5);
      const started = tries.run(step, { pauseMs: () => 60_000, onRetry: () => tries.close() });
      await expect(started).rejects.toBeInstanceOf(ClosedWhileStartingError);
      expect(step).toHaveBeenCalledTimes(1);
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
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
