/**
 * Secrets that appear in Herald's own examples and docs (the single-host env file, the
 * Kubernetes Secret example, the README tour and two-pod recipe, .env.example, hooks.md): anyone can read them, so a
 * production pod started with one unedited accepts tokens anyone can mint, or webhooks anyone can
 * forge. Placeholders written to be replaced (`<...>`, `replace-with-...`, `change-me-...`) count.
 */
const PUBLISHED_SECRETS: ReadonlySet<string> = new Set([
  'replace-with-at-least-32-random-characters',
  'tour-secret-0123456789abcdef',
  'two-pods-on-my-machine-0123',
  'dev-only-insecure-key-for-local-clusters',
  'a-long-random-string-shared-with-the-backend',
]);

const PLACEHOLDER = /^<.*>$|replace-with|change-me/i;

/** Whether `secret` is one of Herald's published example secrets or placeholders (see above). */
export function isPublishedSecret(secret: string): boolean {
  const trimmed = secret.trim();
  return PUBLISHED_SECRETS.has(trimmed) || PLACEHOLDER.test(trimmed);
}
