import { DeadlineExpiredError } from '../deadline';
import { RedisDeadline } from './redis-deadline';

/** A command whose reply the test delivers by hand. */
function command<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RedisDeadline', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  const advance = async (ms: number) => {
    await jest.advanceTimersByTimeAsync(ms);
    // The verdict waits for a setImmediate after the timer (see RedisDeadline.arm).
    await jest.runOnlyPendingTimersAsync();
  };

  it('fails what is outstanding once the connection has answered nothing for the deadline', async () => {
    const deadline = new RedisDeadline(1000);
    const outcomes = [command(), command()].map((c) => deadline.track(c.promise, 'publish').then(() => 'answered', (error: unknown) => error));
    await advance(1000);
    const [first, second] = await Promise.all(outcomes);
    expect(first).toBeInstanceOf(DeadlineExpiredError);
    expect(second).toBeInstanceOf(DeadlineExpiredError);
    expect((first as Error).message).toBe('Redis did not answer publish within 1000 ms');
  });

  it('keeps commands queued far longer than the deadline alive while replies keep coming', async () => {
    const deadline = new RedisDeadline(1000);
    const queued = Array.from({ length: 30 }, () => command<number>());
    const results = queued.map((c) => deadline.track(c.promise, 'publish'));
    // One reply every 300 ms: the last is answered 9 s after it was sent.
    for (const [index, c] of queued.entries()) {
      await advance(300);
      c.resolve(index);
    }
    await expect(Promise.all(results)).resolves.toEqual(queued.map((_, index) => index));
  });

  it('passes a command’s own failure through unchanged', async () => {
    const deadline = new RedisDeadline(1000);
    const failure = new Error('ERR wrong type');
    await expect(deadline.track(Promise.reject(failure), 'publish')).rejects.toBe(failure);
  });

  it('starts counting afresh after an idle spell', async () => {
    const deadline = new RedisDeadline(1000);
    const first = command<string>();
    const answered = deadline.track(first.promise, 'history');
    first.resolve('one');
    await expect(answered).resolves.toBe('one');
    await advance(5000);
    const second = command<string>();
    const pending = deadline.track(second.promise, 'history');
    await advance(900);
    second.resolve('two');
    await expect(pending).resolves.toBe('two');
  });
});
