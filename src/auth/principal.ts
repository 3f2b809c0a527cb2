/** Who is on the other end of a connection or request, as proven by a verified JWT. */
export interface Principal {
  /** The `sub` claim: the user id. */
  readonly user: string;
  readonly name: string | undefined;
  /** The `rooms` claim: room names, or prefixes ending in `*`. */
  readonly roomPatterns: readonly string[];
  readonly scopes: readonly string[];
  /** The `exp` claim in epoch milliseconds; null when the token never expires. */
  readonly expiresAtMs: number | null;
  /** Every verified claim, kept only when the join proxy needs them (section 8). */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** The token's `exp` as the contract writes it (ISO 8601), or null when it never expires. */
export function expiresAtOf(principal: Principal): string | null {
  return principal.expiresAtMs === null ? null : new Date(principal.expiresAtMs).toISOString();
}

export const Scope = {
  Publish: 'notifications:publish',
  PresenceRead: 'presence:read',
} as const;
export type Scope = (typeof Scope)[keyof typeof Scope];
