import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { linePattern, readmeBlocks, replaced, Terminal } from '../support/readme-terminal';
import { requireTool } from '../support/tools';

/**
 * README.md's "Two pods on Redis, on your machine", run as written: its blocks tagged
 * `pods terminal=<n>` pasted in order into one bash per terminal, with the documented ports
 * (3001, 3002, Redis's 6390) swapped for free ones; every documented output line must show up.
 */
describe("README's two pods on Redis", () => {
  const terminals: Terminal[] = [];
  afterAll(async () => {
    // Closing a terminal stops its process group: both pods and the Redis it started.
    for (const terminal of terminals) await terminal.close();
  });

  it('is documented as blocks for two terminals, with outputs to check', () => {
    const blocks = readmeBlocks('Two pods on Redis, on your machine', 'pods');
    expect(blocks.map((block) => block.terminal)).toEqual([1, 2, 1, 2]);
    expect(blocks.every((block) => block.expected.length > 0)).toBe(true);
  });

  it('delivers a publish on one pod to a client of the other, through a private Redis', async () => {
    requireTool('curl', 'apt-get install curl');
    requireTool('redis-server', 'apt-get install redis-server');
    const ports = { '3001': String(await freePort()), '3002': String(await freePort()), '6390': String(await freePort()) };
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1' };
    const [start, alice, publish, delivered] = readmeBlocks('Two pods on Redis, on your machine', 'pods').map((block) => ({ ...block, code: replaced(block.code, ports) }));
    const pattern = (line: string) => linePattern(line, ports);
    const first = new Terminal(env);
    const second = new Terminal(env);
    terminals.push(first, second);

    first.paste(`${start.code}echo pods-step-1-done`);
    await eventually(() => expect(first.output).toContain('pods-step-1-done'), 90_000, 200);
    for (const line of start.expected) expect(first.output).toMatch(pattern(line));

    second.paste(alice.code);
    await eventually(() => expect(second.output).toMatch(pattern(alice.expected[0])), 30_000, 100);
    for (const line of alice.typed) second.paste(line);
    for (const line of alice.expected) await eventually(() => expect(second.output).toMatch(pattern(line)), 10_000);

    first.paste(publish.code);
    for (const line of publish.expected) await eventually(() => expect(first.output).toMatch(pattern(line)), 15_000);
    expect(delivered.language).toBe('text');
    for (const line of delivered.expected) await eventually(() => expect(second.output).toMatch(pattern(line)), 10_000);
    expect(first.output).not.toMatch(/EADDRINUSE|cannot start/i);
  }, 150_000);
});
