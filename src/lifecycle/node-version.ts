/**
 * The oldest Node Herald runs on, as package.json's engines says: 24.9 brought the server's
 * shouldUpgradeCallback, which the WebSocket gateway relies on (herald-ws.adapter.ts).
 */
const NODE_REQUIRED = { major: 24, minor: 9 };

/**
 * Why Herald cannot run on Node `version` (process.versions.node), or undefined when it can.
 * npm's engines warning is easy to miss (and hidden at loglevel=error), and with install
 * scripts skipped npm scripts quietly run the machine's own, older Node.
 */
export function nodeVersionProblem(version: string): string | undefined {
  const [major, minor] = version.split('.').map(Number);
  if (major > NODE_REQUIRED.major || (major === NODE_REQUIRED.major && minor >= NODE_REQUIRED.minor)) return undefined;
  const required = `${NODE_REQUIRED.major}.${NODE_REQUIRED.minor}`;
  return (
    `It needs Node ${required} or later, and this is Node ${version}. npm scripts run the Node ${NODE_REQUIRED.major} ` +
    `that npm install brings (node_modules/.bin/node), unless install scripts were skipped (--ignore-scripts).`
  );
}
