import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** What capYoungGeneration needs of V8 (node:v8 itself outside tests). */
export interface HeapControls {
  getHeapSpaceStatistics: typeof getHeapSpaceStatistics;
  setFlagsFromString: typeof setFlagsFromString;
}

/** V8's default: the new space doubles when it grows. */
const DEFAULT_GROWTH_FACTOR = 2;

/**
 * Keeps V8's young generation at its first size (1 MB) until capYoungGeneration says how far it
 * may grow: called first thing in main.ts. Loading Herald's modules is one synchronous stretch in
 * which no GC observer runs, and it alone doubled the new space to 32 MB (the configuration's
 * own libraries to 8 MB), which V8 then kept: a cap set after it had no effect below that.
 */
export function holdYoungGeneration(v8: Pick<HeapControls, 'setFlagsFromString'> = { setFlagsFromString }): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Stops V8's young generation (its `new_space`) growing once it reaches `maxMb`
 * (V8_NEW_SPACE_MAX_MB). Without a memory limit to size itself from, V8 lets the new space grow
 * past 100 MB under a burst of admissions and keeps it: in the benchmark, more of an idle pod's
 * RSS growth than the connections' own memory. `--max-semi-space-size` would say so on
 * the command line, but Herald is started in too many ways (npm start, the image, a process
 * manager, `node dist/main.js`) for a flag there to be reliable. The growth factor, unlike the
 * maximum, is read each time V8 grows the space, so after every GC the factor is set to 1 while
 * the space is at the cap and back to V8's default below it (V8 shrinks the space when idle, and
 * must be able to grow it again). V8 reports the space at up to a few times the cap (both
 * semi-spaces, and the observer runs after the collection that grew it). 0 gives V8 back its own
 * sizing (undoing holdYoungGeneration). Set before the app starts (herald.process.ts): V8 keeps
 * the new space it has grown, so a cap set later cannot bring it down.
 */
export function capYoungGeneration(maxMb: number, v8: HeapControls = { getHeapSpaceStatistics, setFlagsFromString }): YoungGenerationCap {
  if (maxMb === 0) {
    v8.setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
    return { adjust: () => undefined, stop: () => undefined };
  }
  const capBytes = maxMb * 2 ** 20;
  let growthFactor: number | undefined;
  const adjust = () => {
    const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    if (!newSpace) return;
    const wanted = newSpace.space_size < capBytes ? DEFAULT_GROWTH_FACTOR : 1;
    if (wanted === growthFactor) return;
    growthFactor = wanted;
    v8.setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
  };
  adjust();
  const observer = new PerformanceObserver(adjust);
  observer.observe({ entryTypes: ['gc'] });
  return { adjust, stop: () => observer.disconnect() };
}

export interface YoungGenerationCap {
  /** What runs after every GC: sets the growth factor for the new space's size now. */
  adjust(): void;
  stop(): void;
}
