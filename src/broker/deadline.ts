/**
 * Settles like `promise`, or rejects with `onExpiry()` once `timeoutMs` pass first. The timer
 * is cleared as soon as either happens, so nothing outlives the call.
 *
 * node-redis's own command timeout only covers commands still waiting to be written: one
 * already on the wire to a Redis that stopped answering (frozen, stuck in a script, a network
 * that drops packets) waits for as long as the connection stays open. Every Redis call of the
 * engine goes through here instead (StandaloneRedisConnection).
 */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, onExpiry: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onExpiry()), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        // After expiry this settles nothing (the promise already rejected), but it still handles
        // the late rejection, so it never surfaces as unhandled.
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A broker call that did not settle in time. */
export class DeadlineExpiredError extends Error {
  constructor(readonly operation: string, readonly timeoutMs: number) {
    super(`Redis did not answer ${operation} within ${timeoutMs} ms`);
    this.name = 'DeadlineExpiredError';
  }
}
