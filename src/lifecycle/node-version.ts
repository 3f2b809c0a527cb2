import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The oldest Node Herald runs on, as package.json's engines says: 24.9 brought the server's
 * shouldUpgradeCallback, which the WebSocket gateway relies on (herald-ws.adapter.ts).
 */
const NODE_REQUIRED = { major: 24, minor: 9 };

/**
 * Whether the installation holds the Node the `node` devDependency brings: a full npm install
 * does, a production one (npm ci --omit=dev, as the systemd recipe and the image run) does not.
 * From src/lifecycle or dist/lifecycle, two levels below the package's root.
 */
export function hasBundledNode(): boolean {
  return existsSync(join(__dirname, '..', '..', 'node_modules', '.bin', 'node'));
}

/**
 * Why Herald cannot run on Node `version` (process.versions.node), or undefined when it can.
 * npm's engines warning is easy to miss (and hidden at loglevel=error), and with install
 * scripts skipped npm scripts quietly run the machine's own, older Node. Where no Node came
 * with the installation (`bundledNode` false), the only advice that helps is to install one.
 */
export function nodeVersionProblem(version: string, bundledNode: boolean = hasBundledNode()): string | undefined {
  const [major, minor] = version.split('.').map(Number);
  if (major > NODE_REQUIRED.major || (major === NODE_REQUIRED.major && minor >= NODE_REQUIRED.minor)) return undefined;
  const required = `${NODE_REQUIRED.major}.${NODE_REQUIRED.minor}`;
  const needs = `It needs Node ${required} or later, and this is Node ${version}.`;
  if (!bundledNode) return `${needs} Install Node ${required} or later and start Herald with it.`;
  return (
    `${needs} npm scripts run the Node ${NODE_REQUIRED.major} that npm install brings (node_modules/.bin/node), ` +
    `unless install scripts were skipped (--ignore-scripts); without npm, start Herald with node_modules/.bin/node ` +
    `or a Node ${required} or later.`
  );
}
