import { nodeVersionProblem } from './node-version';

describe('nodeVersionProblem', () => {
  it('names the Node needed and the one running, and how npm scripts get the right one', () => {
    expect(nodeVersionProblem('20.20.2')).toBe(
      'It needs Node 24.9 or later, and this is Node 20.20.2. npm scripts run the Node 24 that npm install brings (node_modules/.bin/node), unless install scripts were skipped (--ignore-scripts).',
    );
    expect(nodeVersionProblem('23.11.0')).toContain('this is Node 23.11.0');
  });

  it('refuses a Node 24 older than 24.9, which lacks the server option the WebSocket gateway relies on', () => {
    for (const version of ['24.0.0', '24.8.1']) expect(nodeVersionProblem(version)).toContain(`It needs Node 24.9 or later, and this is Node ${version}.`);
  });

  it('accepts Node 24.9 and later', () => {
    for (const version of ['24.9.0', '24.12.1', '25.1.0', '30.0.0']) expect(nodeVersionProblem(version)).toBeUndefined();
  });
});
