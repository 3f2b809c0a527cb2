import { once } from 'node:events';
import { spawnServer } from '../support/spawned-server';

/**
 * LOG_LEVEL filters what the built server writes: the lines of a start and a stop at `log`, the
 * development-secret warning at `warn`. Read once the process has exited and its stdout and stderr
 * have ended ('close'): at 'exit' the last of what it wrote may still be in the pipes.
 */
describe('LOG_LEVEL', () => {
  it.each([
    ['log', true, true],
    ['warn', false, true],
    ['error', false, false],
  ])('at %s: start and stop lines %s, the development-secret warning %s', async (level, lifecycleLines, warning) => {
    // JWT_SECRET empty counts as unset: the server makes its own secret and warns about it.
    const server = await spawnServer({ LOG_LEVEL: level, JWT_SECRET: '' });
    const closed = once(server.child, 'close');
    server.child.kill('SIGTERM');
    expect(await closed).toEqual([0, null]);
    const output = server.output();
    expect(output.includes('Listening')).toBe(lifecycleLines);
    expect(output.includes('Signal received')).toBe(lifecycleLines);
    expect(output.includes('JWT_SECRET is not set')).toBe(warning);
  });
});
