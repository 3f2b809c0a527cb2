/**
 * One call per key per event-loop turn: the callers of one turn share the first one's promise,
 * until process.nextTick runs. For a subscriber's flushing PING (flushChannel): each caller asks
 * after its own read was answered, and node-redis writes a turn's commands later still
 * (setImmediate), so the one PING is written after every sharer's read and covers them all. A
 * caller in a later turn makes its own.
 */
export class TurnShared<Key> {
  private readonly calls = new Map<Key, Promise<void>>();

  run(key: Key, call: () => Promise<void>): Promise<void> {
    let pending = this.calls.get(key);
    if (!pending) {
      pending = call();
      this.calls.set(key, pending);
      process.nextTick(() => this.calls.delete(key));
    }
    return pending;
  }
}
