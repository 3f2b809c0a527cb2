import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * Every relative link in README.md and docs/ leads somewhere: the file exists, and a `#anchor`
 * names a heading of it (as GitHub makes anchors: lower case, punctuation dropped, spaces to
 * hyphens). A page renamed or a heading reworded otherwise leaves readers at a 404 or the top.
 */
const root = join(__dirname, '..', '..');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join('docs', name))];

/** GitHub's anchor for a heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => anchorOf(heading)));
}

function linksOf(page: string): { target: string; anchor: string | undefined }[] {
  // Code blocks and inline code hold examples, not links.
  const text = readFileSync(join(root, page), 'utf8').replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map(([, href]) => href)
    .filter((href) => !/^[a-z]+:/i.test(href))
    .map((href) => {
      const [path, anchor] = href.split('#');
      return { target: path === '' ? page : join(dirname(page), path), anchor };
    });
}

describe('links in README.md and docs/', () => {
  it.each(pages)('%s: every relative link leads to a file, and its anchor to a heading there', (page) => {
    const broken: string[] = [];
    for (const { target, anchor } of linksOf(page)) {
      const file = join(root, target);
      if (!existsSync(file)) broken.push(`${relative(root, file)} (no such file)`);
      else if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(file).has(anchor)) broken.push(`${relative(root, file)}#${anchor} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });
});
