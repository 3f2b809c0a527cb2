import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/**
 * Preloaded into every target process (`node --expose-gc --import probe.mjs ...`): answers the
 * runner's questions over the IPC channel, the same way for every target:
 * - `memory`: RSS and V8 heap after a full GC;
 * - `profile-start` / `profile-stop`: a V8 CPU profile of a measured window only
 *   (BENCH_PROFILE=window), written to the file `profile-stop` names; a profile of the whole
 *   process (`--cpu-prof`) is mostly start-up and connects.
 */
if (process.send) {
  let session;
  const reply = (message) => process.send(message);
  process.on('message', (message) => {
    if (message?.type === 'memory') {
      if (typeof globalThis.gc === 'function') {
        globalThis.gc();
        globalThis.gc();
      }
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
      reply({ type: 'memory', rss, heapUsed, heapTotal, external, arrayBuffers });
    } else if (message?.type === 'profile-start') {
      session ??= new Session();
      void (async () => {
        session.connect();
        await session.post('Profiler.enable');
        // The interval of node's --cpu-prof.
        await session.post('Profiler.setSamplingInterval', { interval: 1000 });
        await session.post('Profiler.start');
        reply({ type: 'profile-started' });
      })().catch((error) => reply({ type: 'profile-started', error: String(error) }));
    } else if (message?.type === 'profile-stop') {
      void (async () => {
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        await writeFile(message.file, JSON.stringify(profile));
        reply({ type: 'profile-written', file: message.file });
      })().catch((error) => reply({ type: 'profile-written', error: String(error) }));
    }
  });
  // The IPC channel must not keep a server alive that wants to exit (drain).
  process.channel?.unref();
}
