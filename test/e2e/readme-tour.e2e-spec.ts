import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { linePattern, readme, readmeBlocks, Terminal } from '../support/readme-terminal';
import { requireTool } from '../support/tools';

/**
 * README.md's "Five-minute tour", run as written: its fenced blocks tagged `tour terminal=<n>`
 * are pasted, in order, into one bash per terminal (the file itself, not a copy), on a free
 * PORT; every line documented as output (`#  …`) must show up in that terminal.
 */
const tourBlocks = () => readmeBlocks('Five-minute tour', 'tour');

/** A documented line as a pattern: `…` stands for anything; the port is the one chosen. */
const pattern = (line: string, port: number) => linePattern(line, { ':3000': `:${port}` });

describe("README's five-minute tour", () => {
  const terminals: Terminal[] = [];
  afterAll(async () => {
    for (const terminal of terminals) await terminal.close();
  });

  it('is documented as blocks for two terminals, with outputs to check', () => {
    const blocks = tourBlocks();
    expect(blocks.map((block) => block.terminal)).toEqual([1, 2, 1, 2]);
    expect(blocks.every((block) => block.expected.length > 0)).toBe(true);
    expect(readme).not.toContain('"seq":null');
  });

  it('works when pasted block by block into two terminals, on a free port', async () => {
    requireTool('curl', 'apt-get install curl');
    const port = await freePort();
    // What a reader's shell has: no JWT_SECRET, the chosen PORT (the tour's `export PORT=...`).
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', PORT: String(port), NO_COLOR: '1' };
    const [start, alice, publish, delivered] = tourBlocks();
    const first = new Terminal(env);
    const second = new Terminal(env);
    terminals.push(first, second);

    // 1: the whole block at once; the until line holds the rest of a paste until Herald answers.
    first.paste(`${start.code}echo tour-step-1-done`);
    await eventually(() => expect(first.output).toContain('tour-step-1-done'), 90_000, 200);
    for (const line of start.expected) expect(first.output).toMatch(pattern(line, port));

    // 2 and 3: alice connects; the reader types the `>` line once the welcome is there.
    second.paste(alice.code);
    await eventually(() => expect(second.output).toMatch(pattern(alice.expected[0], port)), 30_000, 100);
    for (const line of alice.typed) second.paste(line);
    for (const line of alice.expected) await eventually(() => expect(second.output).toMatch(pattern(line, port)), 10_000);

    // 4: the publish answers, and alice's socket gets one notification per room.
    first.paste(publish.code);
    for (const line of publish.expected) await eventually(() => expect(first.output).toMatch(pattern(line, port)), 15_000);
    expect(delivered.language).toBe('text');
    for (const line of delivered.expected) await eventually(() => expect(second.output).toMatch(pattern(line, port)), 10_000);
    expect(first.output).not.toMatch(/EADDRINUSE|cannot start/i);
  }, 150_000);

  it('says so and starts nothing when something already answers on the port (a Herald left running)', async () => {
    requireTool('curl', 'apt-get install curl');
    // An old Herald, ready: the until line alone would stop waiting at once, and npm start fail after it.
    const old = createServer((_request, response) => response.end('{"status":"ready"}'));
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    try {
      const port = (old.address() as AddressInfo).port;
      const terminal = new Terminal({ PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', PORT: String(port), NO_COLOR: '1' });
      terminals.push(terminal);
      terminal.paste(`${tourBlocks()[0].code}echo tour-step-1-done`);
      await eventually(() => expect(terminal.output).toContain('tour-step-1-done'), 10_000, 100);
      expect(terminal.output).toContain(`Port ${port} already answers (a Herald still running?): stop it, or export PORT=${port + 1} in both terminals`);
      // Nothing started: `npm start &` would be a background job of the terminal's shell.
      terminal.paste('echo "background jobs: $(jobs -p | wc -l)"');
      await eventually(() => expect(terminal.output).toMatch(/background jobs: \d+/), 10_000, 100);
      expect(terminal.output).toContain('background jobs: 0');
    } finally {
      await new Promise((resolve) => old.close(resolve));
    }
  }, 30_000);
});
