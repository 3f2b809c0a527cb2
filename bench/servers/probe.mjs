import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/**
 * Preloaded into every target process (`node --expose-gc --import probe.mjs ...`): answers the
 * runner's questions over the IPC channel, the same way for every target:
 * - `memory`: RSS and V8 heap after a full GC;
 * - `profile-start` / `profile-stop`: a V8 CPU profile (`kind: 'cpu'`, BENCH_PROFILE=window) or
 *   a sampling allocation profile (`kind: 'alloc'`, BENCH_PROFILE=alloc) of a measured window
 *   only, written to the file `profile-stop` names; a profile of the whole process
 *   (`--cpu-prof`) is mostly start-up and connects.
 */
if (process.send) {
  let session;
  let kind;
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
      kind = message.kind ?? 'cpu';
      void (async () => {
        session.connect();
        if (kind === 'alloc') {
          // Every 4 KB allocated on average, fine enough to tell a connect's few KB apart; what the
          // window allocated, collected since or not (what costs GC time), not only what it kept.
          await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        } else {
          await session.post('Profiler.enable');
          // The interval of node's --cpu-prof.
          await session.post('Profiler.setSamplingInterval', { interval: 1000 });
          await session.post('Profiler.start');
        }
        reply({ type: 'profile-started' });
      })().catch((error) => reply({ type: 'profile-started', error: String(error) }));
    } else if (message?.type === 'profile-stop') {
      void (async () => {
        const { profile } = await session.post(kind === 'alloc' ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
        session.disconnect();
        await writeFile(message.file, JSON.stringify(profile));
        reply({ type: 'profile-written', file: message.file });
      })().catch((error) => reply({ type: 'profile-written', error: String(error) }));
    }
  });
  // The IPC channel must not keep a server alive that wants to exit (drain).
  process.channel?.unref();
}
