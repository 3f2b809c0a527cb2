import { DeadlineExpiredError } from '../deadline';
import { StartAnswers } from './cluster.start-answers';

/** A connect that settles when the test says. */
function pendingConnect() {
  let answer!: (client: string) => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<string>((resolve, reject) => {
    answer = resolve;
    fail = reject;
  });
  return { promise, answer, fail };
}

/** Where a promise stands, without waiting for it. */
async function stateOf(promise: Promise<unknown>): Promise<string> {
  const pending = {};
  const outcome = await Promise.race([promise.then(() => 'resolved', (error: Error) => `rejected: ${error.message}`), Promise.resolve(pending)]);
  return outcome === pending ? 'pending' : (outcome as string);
}

describe('StartAnswers', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const GRACE_MS = 1_000;
  const BUDGET_MS = 15_000;

  it('waits the whole budget for primaries while none has answered', async () => {
    const answers = new StartAnswers(GRACE_MS);
    const connects = [pendingConnect(), pendingConnect()];
    const waits = connects.map((connect) => answers.connect(connect.promise, BUDGET_MS));
    await jest.advanceTimersByTimeAsync(BUDGET_MS - 1);
    expect(await Promise.all(waits.map(stateOf))).toEqual(['pending', 'pending']);
    await jest.advanceTimersByTimeAsync(1);
    for (const wait of waits) await expect(wait).rejects.toBeInstanceOf(DeadlineExpiredError);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('gives the primaries still silent the grace after another one answered, then gives them up', async () => {
    const answers = new StartAnswers(GRACE_MS);
    const [answering, frozen] = [pendingConnect(), pendingConnect()];
    const answered = answers.connect(answering.promise, BUDGET_MS);
    const silent = answers.connect(frozen.promise, BUDGET_MS);
    await jest.advanceTimersByTimeAsync(300);
    answering.answer('client');
    await expect(answered).resolves.toBe('client');
    await jest.advanceTimersByTimeAsync(GRACE_MS - 1);
    expect(await stateOf(silent)).toBe('pending');
    await jest.advanceTimersByTimeAsync(1);
    await expect(silent).rejects.toThrow(`no answer within ${GRACE_MS} ms (REDIS_COMMAND_TIMEOUT_MS) of another primary's at start`);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('gives the rest the grace again from each later answer, so answers coming in one after another on a busy machine are all taken', async () => {
    const answers = new StartAnswers(GRACE_MS);
    const connects = [pendingConnect(), pendingConnect(), pendingConnect()];
    const waits = connects.map((connect) => answers.connect(connect.promise, BUDGET_MS));
    connects[0].answer('first');
    await jest.advanceTimersByTimeAsync(GRACE_MS - 100);
    connects[1].answer('second');
    await jest.advanceTimersByTimeAsync(GRACE_MS - 100);
    connects[2].answer('third');
    await expect(Promise.all(waits)).resolves.toEqual(['first', 'second', 'third']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("passes a connect's own failure on, and a failure is no answer: the others keep the budget", async () => {
    const answers = new StartAnswers(GRACE_MS);
    const [refused, slow] = [pendingConnect(), pendingConnect()];
    const failed = answers.connect(refused.promise, BUDGET_MS);
    const waited = answers.connect(slow.promise, BUDGET_MS);
    refused.fail(new Error('ECONNREFUSED'));
    await expect(failed).rejects.toThrow('ECONNREFUSED');
    await jest.advanceTimersByTimeAsync(BUDGET_MS - 1);
    expect(await stateOf(waited)).toBe('pending');
    slow.answer('late');
    await expect(waited).resolves.toBe('late');
    expect(jest.getTimerCount()).toBe(0);
  });
});
