import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fencedBlocks, repositoryRoot } from './markdown-blocks';

export const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8');

export interface ReadmeBlock {
  terminal: number;
  language: string;
  code: string;
  /** Lines shown as `#  < …` (received), `#  > …` (typed by the reader), or `#  …` (printed). */
  expected: string[];
  typed: string[];
}

/** The fenced blocks of the README section `heading` tagged `<tag> terminal=<n>`, in order. */
export function readmeBlocks(heading: string, tag: string): ReadmeBlock[] {
  const tagged = new RegExp(`^(\\w+) ${tag} terminal=(\\d)$`);
  return fencedBlocks('README.md', heading).flatMap(({ info, code }) => {
    const match = tagged.exec(info);
    if (!match) return [];
    const comments = code.split('\n').filter((line) => line.startsWith('#  ')).map((line) => line.slice(3));
    return [
      {
        language: match[1],
        terminal: Number(match[2]),
        code,
        typed: comments.filter((line) => line.startsWith('> ')).map((line) => line.slice(2)),
        expected: comments.filter((line) => !line.startsWith('> ')).map((line) => line.replace(/^< /, '')),
      },
    ];
  });
}

/** Replaces each key of `replacements` (a documented port, say) with its value. */
export function replaced(text: string, replacements: Record<string, string>): string {
  return Object.entries(replacements).reduce((result, [from, to]) => result.replaceAll(from, to), text);
}

/** A documented line as a pattern: `…` stands for anything; `replacements` apply first (ports). */
export function linePattern(line: string, replacements: Record<string, string>): RegExp {
  const escaped = replaced(line, replacements).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('…', '.*');
  // Without a terminal, wscat prints received frames bare, after its `> ` prompt.
  return new RegExp(`^(?:[<>] )*${escaped}$`, 'm');
}

/** A bash a reader pastes README blocks into, in the repository's root. */
export class Terminal {
  private readonly shell: ChildProcess;
  private text = '';

  constructor(env: Record<string, string>) {
    // Its own process group, like a terminal's session, so everything it started is stopped with it.
    this.shell = spawn('bash', [], { cwd: repositoryRoot, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    for (const stream of [this.shell.stdout!, this.shell.stderr!]) {
      stream.on('data', (chunk: Buffer) => (this.text += chunk.toString().replace(/\x1b\[[0-9;]*m/g, '')));
    }
  }

  /** Pastes text, as a reader does into a terminal. */
  paste(text: string): void {
    this.shell.stdin!.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  get output(): string {
    return this.text;
  }

  async close(): Promise<void> {
    if (this.shell.exitCode !== null || this.shell.signalCode !== null) return;
    const exited = new Promise((resolve) => this.shell.once('exit', resolve));
    try {
      process.kill(-this.shell.pid!, 'SIGINT');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    const timer = setTimeout(() => process.kill(-this.shell.pid!, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
