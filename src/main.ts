import { HeldSignals } from './lifecycle/held-signals';
import { nodeVersionProblem } from './lifecycle/node-version';

// Before anything else loads: a signal while the modules load must drain, not kill (HeldSignals).
const signals = new HeldSignals();
const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld) {
  process.stderr.write(`Herald cannot start. ${tooOld}\n`);
  process.exit(1);
}

import('./herald.process.js')
  .then(({ runHeraldProcess }) => runHeraldProcess(signals))
  .catch((error: unknown) => {
    process.stderr.write(`Herald failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
