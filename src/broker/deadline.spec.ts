import { DeadlineExpiredError, withDeadline } from './deadline';

describe('withDeadline', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('settles like the call when it settles in time, and leaves no timer behind', async () => {
    await expect(withDeadline(Promise.resolve('PONG'), 1000, () => new Error('late'))).resolves.toBe('PONG');
    await expect(withDeadline(Promise.reject(new Error('refused')), 1000, () => new Error('late'))).rejects.toThrow('refused');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects with the expiry error once the deadline passes, and a late rejection stays handled', async () => {
    let rejectLate!: (error: Error) => void;
    const never = new Promise<string>((_, reject) => {
      rejectLate = reject;
    });
    const bounded = withDeadline(never, 1000, () => new DeadlineExpiredError('publish', 1000));
    const outcome = expect(bounded).rejects.toThrow('Redis did not answer publish within 1000 ms');
    jest.advanceTimersByTime(1000);
    await outcome;
    expect(jest.getTimerCount()).toBe(0);
    // Would fail the run as an unhandled rejection if withDeadline had not handled it.
    rejectLate(new Error('connection closed'));
    await Promise.resolve();
  });
});
