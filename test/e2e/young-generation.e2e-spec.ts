import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnServer, SpawnedServer } from '../support/spawned-server';

/**
 * capYoungGeneration against the real V8 of this Node (src/lifecycle/young-generation.ts): it
 * relies on V8 reading the new space's growth factor each time it grows the space, which a
 * Node upgrade could change. Run in child processes: the flag is process-wide.
 */
describe('the young-generation cap on a real V8', () => {
  const script = `
    const { getHeapSpaceStatistics } = require('node:v8');
    const capMb = Number(process.argv[1]);
    if (capMb > 0) require(${JSON.stringify(join(__dirname, '../../dist/lifecycle/young-generation.js'))}).capYoungGeneration(capMb);
    const newSpaceMb = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 2 ** 20;
    let largest = 0;
    // What is in flight: objects that live a few turns, as a server's requests do.
    const inFlight = [];
    (async () => {
      for (let round = 0; round < 600; round++) {
        const garbage = [];
        for (let i = 0; i < 20000; i++) garbage.push({ i, text: 'x' + i });
        inFlight.push(garbage);
        if (inFlight.length > 8) inFlight.shift();
        largest = Math.max(largest, newSpaceMb());
        // Small turns, each at most a collection or so, with the GC observer run between them, as
        // between a server's I/O callbacks.
        await new Promise((resolve) => setImmediate(resolve));
      }
      process.stdout.write(String(largest));
    })();
  `;
  const largestNewSpaceMb = async (capMb: number) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, String(capMb)], { timeout: 60_000 });
    return Number(stdout);
  };

  it('stops the new space growing near the cap, where uncapped it grows on', async () => {
    const [uncapped, capped] = await Promise.all([largestNewSpaceMb(0), largestNewSpaceMb(2)]);
    // V8 reports more than the cap (both semi-spaces, and the collection that grew the space
    // ran before the observer): about what --max-semi-space-size=8 gives, where uncapped V8
    // took 128 MB on a machine with no memory limit.
    expect(capped).toBeLessThanOrEqual(32);
    expect(uncapped).toBeGreaterThan(capped);
  }, 90_000);
});

describe('V8_NEW_SPACE_MAX_MB on the built server', () => {
  let server: SpawnedServer | undefined;
  afterEach(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    server = undefined;
  });

  it('holds the young generation near the cap from the start, below the size loading the modules grew it to', async () => {
    server = await spawnServer({ V8_NEW_SPACE_MAX_MB: '2' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const newSpaceMb = Number(/nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/.exec(metrics)![1]) / 2 ** 20;
    // Set once Herald was up, the cap found the new space at 64 MB, grown while the modules
    // loaded and the app started, and V8 never gave it back. V8 reports up to a few times the cap.
    expect(newSpaceMb).toBeLessThanOrEqual(8);
  }, 60_000);
});
