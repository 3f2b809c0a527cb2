/** The oldest Node Herald runs on (package.json's engines). */
export const NODE_MAJOR_REQUIRED = 24;

/**
 * Why Herald cannot run on Node `version` (process.versions.node), or undefined when it can.
 * npm's engines warning is easy to miss (and hidden at loglevel=error), and with install
 * scripts skipped npm scripts quietly run the machine's own, older Node.
 */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major >= NODE_MAJOR_REQUIRED) return undefined;
  return (
    `It needs Node ${NODE_MAJOR_REQUIRED} or later, and this is Node ${version}. npm scripts run the Node ${NODE_MAJOR_REQUIRED} ` +
    `that npm install brings (node_modules/.bin/node), unless install scripts were skipped (--ignore-scripts).`
  );
}
