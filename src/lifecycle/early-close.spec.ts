import { EarlyClose } from './early-close';

describe('EarlyClose', () => {
  it('begins the close once, at start, and settles finished with it', async () => {
    let closes = 0;
    let finish!: () => void;
    const close = new EarlyClose(() => {
      closes++;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    close.start();
    close.start();
    const finished = close.finished();
    expect(closes).toBe(1);
    finish();
    await expect(finished).resolves.toBeUndefined();
    expect(closes).toBe(1);
  });

  it('begins the close at finished when the first phase did not, and passes on its failure once awaited', async () => {
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const failing = new EarlyClose(() => Promise.reject(new Error('Redis did not answer')));
      failing.start();
      // A turn of the event loop with the failure not yet awaited: not reported as unhandled.
      await new Promise((resolve) => setImmediate(resolve));
      await expect(failing.finished()).rejects.toThrow('Redis did not answer');
      const late = new EarlyClose(async () => undefined);
      await expect(late.finished()).resolves.toBeUndefined();
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});
