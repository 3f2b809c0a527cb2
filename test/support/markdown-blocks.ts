import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's root: markdown files are named from it, and README.md's commands run there. */
export const repositoryRoot = join(__dirname, '..', '..');

export interface FencedBlock {
  /** What follows the opening fence: the language, then anything else (`bash tour terminal=1`). */
  info: string;
  code: string;
}

/** The `## heading` section of `file` (from the repository's root), up to the next `## ` heading. */
export function markdownSection(file: string, heading: string): string {
  const markdown = readFileSync(join(repositoryRoot, file), 'utf8');
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`${file} has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end === -1 ? undefined : end);
}

/**
 * The fenced code blocks of `file`'s `## heading` section, in order. A block indented under a list
 * item closes at its own indentation, and its code is given without that indentation.
 */
export function fencedBlocks(file: string, heading: string): FencedBlock[] {
  return [...markdownSection(file, heading).matchAll(/^( *)```(\S*)([^\n]*)\n([\s\S]*?)^\1```$/gm)].map((match) => ({
    info: `${match[2]}${match[3]}`.trim(),
    code: match[4].replace(new RegExp(`^${match[1]}`, 'gm'), ''),
  }));
}
