import net from 'node:net';

/**
 * Holds the event loop for `stallMs` right after each of the first `count` TCP connects that
 * `matches` picks is opened, as a busy pod's loop would (another app starting in the process, a
 * loaded node): node-redis's connect timer then fires before the finished connect is seen, so the
 * connect times out against a healthy Redis. `stalled` counts the stalls; `restore()` ends it.
 */
export function stallConnects(count: number, stallMs: number, matches: (options: { port?: number }) => boolean = () => true): { readonly stalled: number; restore(): void } {
  const connect = net.createConnection;
  let stalled = 0;
  const spy = jest.spyOn(net, 'createConnection').mockImplementation(((...args: Parameters<typeof net.createConnection>) => {
    const socket = connect(...args);
    if (stalled < count && matches(args[0] as { port?: number })) {
      stalled++;
      // After node-redis has armed its connect timer, before the loop can see the connect done.
      process.nextTick(() => {
        const until = performance.now() + stallMs;
        while (performance.now() < until);
      });
    }
    return socket;
  }) as typeof net.createConnection);
  return {
    get stalled() {
      return stalled;
    },
    restore: () => spy.mockRestore(),
  };
}
