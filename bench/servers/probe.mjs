/**
 * Preloaded into every target process (`node --expose-gc --import probe.mjs ...`): answers the
 * runner's memory questions over the IPC channel, after a full GC, the same way for every target.
 */
if (process.send) {
  process.on('message', (message) => {
    if (message?.type !== 'memory') return;
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    process.send({ type: 'memory', rss, heapUsed, heapTotal, external, arrayBuffers });
  });
  // The IPC channel must not keep a server alive that wants to exit (drain).
  process.channel?.unref();
}
