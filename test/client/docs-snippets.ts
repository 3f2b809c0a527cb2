import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/** The fenced code blocks of a Markdown file under `## heading`, in order, with their info strings. */
export function fencedBlocks(file: string, heading: string): Array<{ info: string; code: string }> {
  const markdown = readFileSync(join(root, file), 'utf8');
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`${file} has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^( *)```(\S*)([^\n]*)\n([\s\S]*?)^\1```$/gm)].map((match) => ({
    info: `${match[2]}${match[3]}`.trim(),
    code: match[4].replace(new RegExp(`^${match[1]}`, 'gm'), ''),
  }));
}
