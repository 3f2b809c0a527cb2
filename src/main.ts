import { HeldSignals } from './lifecycle/held-signals';
import { nodeVersionProblem } from './lifecycle/node-version';
import { writeStartFailure } from './lifecycle/start-failure';
import { holdYoungGeneration } from './lifecycle/young-generation';

// Before anything else loads: a signal while the modules load must drain, not kill (HeldSignals).
const signals = new HeldSignals();
// Before the modules load too: their loading alone grew V8's young generation past
// V8_NEW_SPACE_MAX_MB, which herald.process.ts applies once the configuration is read.
holdYoungGeneration();
const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld) {
  writeStartFailure(`Herald cannot start. ${tooOld}`);
  process.exit(1);
}

import('./herald.process.js')
  .then(({ runHeraldProcess }) => runHeraldProcess(signals))
  .catch((error: unknown) => {
    writeStartFailure(`Herald failed to start: ${error instanceof Error ? error.message : String(error)}`, error instanceof Error ? error.stack : undefined);
    process.exit(1);
  });
