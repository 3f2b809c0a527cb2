import { Logger } from '@nestjs/common';
import type { RedisConnection } from '../../src/broker/redis/redis.connection';
import { eventually } from '../support/eventually';

/**
 * Closes `connection` while its start is in its last step (the seams' resync), then lets the
 * step finish: the start must fail with ClosedWhileStartingError and leave no health timer
 * running (close() clears only a timer already set).
 */
export async function closeDuringStart(connection: RedisConnection): Promise<{ started: PromiseSettledResult<void>; healthTimer: unknown }> {
  let release!: () => void;
  let resyncing = false;
  connection.onResync(() => {
    resyncing = true;
    return new Promise<void>((resolve) => (release = resolve));
  });
  const started = connection.connect();
  await eventually(() => expect(resyncing).toBe(true), 10_000);
  // close() waits for the resync under way: released once close() has begun.
  const closed = connection.close();
  release();
  await closed;
  const settled = (await Promise.allSettled([started]))[0];
  return { started: settled, healthTimer: (connection as unknown as { healthTimer?: unknown }).healthTimer };
}

/**
 * Closes `connection` while its start pauses between two tries (after the warning `retryMessage`
 * of its first retry) and answers how the start ended. Give it a pause of about a minute
 * (reconnectMinDelayMs): waited out, the start outlasts the test.
 */
export async function closeDuringStartPause(connection: RedisConnection, retryMessage: string): Promise<PromiseSettledResult<void>> {
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  try {
    const started = connection.connect();
    await eventually(() => expect(warn).toHaveBeenCalledWith(expect.objectContaining({ message: retryMessage, attempt: 1 })));
    await connection.close();
    return (await Promise.allSettled([started]))[0];
  } finally {
    warn.mockRestore();
    await connection.close();
  }
}
