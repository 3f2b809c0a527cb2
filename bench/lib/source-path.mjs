/**
 * A source path or URL as the profile summaries print it: from the project's `dist/`, `bench/`
 * or `node_modules/` on (`dist/rooms/rooms.service.js`), not the machine's folders, which differ
 * between a run's snapshot of dist/ and the tree.
 */
export const shortSourcePath = (path) => path.replace(/(?:file:\/\/)?\S*?\/(dist|node_modules|bench)\//, '$1/');

/** A V8 profile's call frame as one key: `name path:line`. */
export const frameKey = ({ functionName, url, lineNumber }) => `${functionName || '(anonymous)'} ${shortSourcePath(url)}:${lineNumber + 1}`;
