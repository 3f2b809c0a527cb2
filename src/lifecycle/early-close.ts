/**
 * A close begun in Nest's first shutdown phase (beforeApplicationShutdown) and awaited in the
 * second (onApplicationShutdown). Nest awaits each module's onApplicationShutdown before the
 * next's, so closes that wait on a silent Redis added up there; begun here, they run side by
 * side (the webhooks' last calls and the broker engine's).
 */
export class EarlyClose {
  private closing: Promise<void> | undefined;

  constructor(private readonly close: () => Promise<void>) {}

  /** beforeApplicationShutdown: begins the close; a rejection before it is awaited is not an unhandled one. */
  start(): void {
    if (this.closing) return;
    this.closing = this.close();
    this.closing.catch(() => undefined);
  }

  /** onApplicationShutdown: settles with the close, begun now if the first phase did not begin it. */
  finished(): Promise<void> {
    this.start();
    return this.closing!;
  }
}
