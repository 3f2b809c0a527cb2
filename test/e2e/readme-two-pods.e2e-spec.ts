import { createServer } from 'node:http';
import { AddressInfo, createServer as createNetServer } from 'node:net';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { linePattern, readme, readmeBlocks, replaced, Terminal } from '../support/readme-terminal';
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

  it('ends by unsetting, in each terminal, what its blocks exported (a later npm start would look for the stopped Redis)', () => {
    const heading = '## Two pods on Redis, on your machine\n';
    const section = readme.slice(readme.indexOf(heading), readme.indexOf('\n## ', readme.indexOf(heading) + 1));
    const prose = section.slice(section.lastIndexOf('```') + 3);
    const unsets = [...prose.matchAll(/`unset ([A-Z_ ]+)`/g)].map((match) => match[1].split(' '));
    const blocks = readmeBlocks('Two pods on Redis, on your machine', 'pods');
    for (const terminal of [1, 2]) {
      const exported = blocks
        .filter((block) => block.terminal === terminal)
        .flatMap((block) => [...block.code.matchAll(/^export (.+)$/gm)].flatMap((match) => match[1].split(' ').map((assignment) => assignment.split('=')[0])));
      expect(exported.length).toBeGreaterThan(0);
      expect(unsets.some((names) => exported.every((name) => names.includes(name)))).toBe(true);
    }
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

  /**
   * Pastes the first block with `ports`, one of which already answers, and expects it to say so
   * and start nothing: Redis and the pods would be background jobs of the terminal's shell.
   */
  async function refusesToStart(ports: Record<'3001' | '3002' | '6390', string>): Promise<void> {
    const terminal = new Terminal({ PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1' });
    terminals.push(terminal);
    terminal.paste(`${replaced(readmeBlocks('Two pods on Redis, on your machine', 'pods')[0].code, ports)}echo pods-step-1-done`);
    await eventually(() => expect(terminal.output).toContain('pods-step-1-done'), 10_000, 100);
    expect(terminal.output).toContain(`Port ${ports['3001']}, ${ports['3002']} or ${ports['6390']} already answers`);
    terminal.paste('echo "background jobs: $(jobs -p | wc -l)"');
    await eventually(() => expect(terminal.output).toMatch(/background jobs: \d+/), 10_000, 100);
    expect(terminal.output).toContain('background jobs: 0');
  }

  it('says so and starts nothing when something already answers on a pod port (a Herald left running)', async () => {
    requireTool('curl', 'apt-get install curl');
    // The tour's Herald on 3001, ready: the until line alone would count it as the first pod.
    const old = createServer((_request, response) => response.end('{"status":"ready"}'));
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    try {
      await refusesToStart({ '3001': String((old.address() as AddressInfo).port), '3002': String(await freePort()), '6390': String(await freePort()) });
    } finally {
      await new Promise((resolve) => old.close(resolve));
    }
  }, 30_000);

  it('says so and starts nothing when a Redis already answers on its port (one a past run left): its pods would share that Redis', async () => {
    requireTool('curl', 'apt-get install curl');
    requireTool('redis-cli', 'apt-get install redis-server');
    // Answers PING as a Redis would.
    const redis = createNetServer((socket) => socket.on('data', () => socket.write('+PONG\r\n')));
    await new Promise<void>((resolve) => redis.listen(0, '127.0.0.1', resolve));
    try {
      await refusesToStart({ '3001': String(await freePort()), '3002': String(await freePort()), '6390': String((redis.address() as AddressInfo).port) });
    } finally {
      await new Promise((resolve) => redis.close(resolve));
    }
  }, 30_000);
});
