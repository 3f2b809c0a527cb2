/**
 * SIGTERM and SIGINT caught from the process's first moment, before the modules load (about a
 * second of it): a signal then (a rollout, a scale-down) is held until Herald has started, and
 * then drains it. Node's default would kill the process with exit 143. Nothing here may import
 * Nest or anything heavy: that is the second this exists to cover.
 */
export class HeldSignals {
  private first: NodeJS.Signals | undefined;
  private readonly early: NodeJS.Signals[] = [];
  private listener: ((signal: NodeJS.Signals, first: boolean) => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    const first = this.first === undefined;
    this.first ??= signal;
    if (this.listener) this.listener(signal, first);
    else this.early.push(signal);
  };

  constructor() {
    process.on('SIGTERM', this.onSignal);
    process.on('SIGINT', this.onSignal);
  }

  /**
   * From now on `listener` hears every signal, `first` true for the one that starts the
   * shutdown (later ones join it: a second SIGTERM, Ctrl-C after SIGTERM); the signals held
   * until now are handed to it at once, in order.
   */
  listen(listener: (signal: NodeJS.Signals, first: boolean) => void): void {
    this.listener = listener;
    this.early.splice(0).forEach((signal, index) => listener(signal, index === 0));
  }
}
