/**
 * A Redis URL as logs and start-up errors may show it: the password masked, and a user name
 * given without a password masked too, since that is where a password lands when the colon is
 * left out (`redis://S3CRET@host`). A user name that comes with a password is an ACL user, shown.
 */
export function redactedRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    else if (parsed.username) parsed.username = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)'; // validated at start-up; never echo what could hold a password
  }
}
