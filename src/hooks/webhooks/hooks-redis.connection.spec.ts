import { DeadlineExpiredError } from '../../broker/deadline';
import { HooksRedisConnection } from './hooks-redis.connection';

/** The options each call was made with, as node-redis's Sentinel client would take them. */
const calls: Array<{ abortSignal?: AbortSignal }> = [];

jest.mock('redis', () => ({
  ...jest.requireActual('redis'),
  // A Sentinel client switching primaries: it holds every command, and never answers.
  createSentinel: () => ({
    isOpen: true,
    commandOptions: { typeMapping: {} },
    on: () => undefined,
    once: () => undefined,
    connect: async () => undefined,
    close: async () => undefined,
    destroy: () => undefined,
    withCommandOptions(options: { abortSignal?: AbortSignal }) {
      calls.push(options);
      return { hooksUnreadClaim: () => new Promise(() => undefined) };
    },
  }),
}));

describe('HooksRedisConnection', () => {
  it('aborts a call that missed its deadline, so a Sentinel client holding it while it switches primaries drops it instead of running it late', async () => {
    const connection = new HooksRedisConnection({ mode: 'sentinel', masterName: 'main', sentinels: [{ host: '127.0.0.1', port: 26379 }] } as never, 50);
    await expect(connection.commands.hooksUnreadClaim('herald:{hooks}:unread', 100, 30_000)).rejects.toBeInstanceOf(DeadlineExpiredError);
    expect(calls).toHaveLength(1);
    // The client's own options are kept beside the signal.
    expect(calls[0]).toMatchObject({ typeMapping: {} });
    expect(calls[0].abortSignal?.aborted).toBe(true);
  });
});
