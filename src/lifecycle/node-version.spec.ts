import { tmpdir } from 'node:os';
import { hasBundledNode, nodeVersionProblem } from './node-version';

describe('nodeVersionProblem', () => {
  it('names the Node needed and the one running, and how npm scripts get the right one where npm install brought it', () => {
    expect(nodeVersionProblem('20.20.2', true)).toBe(
      'It needs Node 24.9 or later, and this is Node 20.20.2. npm scripts run the Node 24 that npm install brings (node_modules/.bin/node), unless install scripts were skipped (--ignore-scripts); without npm, start Herald with node_modules/.bin/node or a Node 24.9 or later.',
    );
    expect(nodeVersionProblem('23.11.0', true)).toContain('this is Node 23.11.0');
  });

  it('says to install Node where the installation brought none (npm ci --omit=dev, as systemd runs it)', () => {
    expect(nodeVersionProblem('20.20.2', false)).toBe('It needs Node 24.9 or later, and this is Node 20.20.2. Install Node 24.9 or later and start Herald with it.');
  });

  it("finds the Node npm install brought in the package's root, wherever the process runs", () => {
    // This checkout has had a full npm install (the tests run on the Node it brought).
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      expect(hasBundledNode()).toBe(true);
      expect(nodeVersionProblem('20.20.2')).toContain('(node_modules/.bin/node)');
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses a Node 24 older than 24.9, which lacks the server option the WebSocket gateway relies on', () => {
    for (const version of ['24.0.0', '24.8.1']) expect(nodeVersionProblem(version)).toContain(`It needs Node 24.9 or later, and this is Node ${version}.`);
  });

  it('accepts Node 24.9 and later', () => {
    for (const version of ['24.9.0', '24.12.1', '25.1.0', '30.0.0']) expect(nodeVersionProblem(version)).toBeUndefined();
  });
});
