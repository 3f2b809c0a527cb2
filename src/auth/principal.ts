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
  const ms = principal.expiresAtMs;
  if (ms === null) return null;
  // Tokens are issued in bursts with the same lifetime, so connections arriving together mostly
  // share an `exp` (whole seconds): the last one written is kept, a Date and its formatting per
  // `welcome` were over 1% of a connect's CPU.
  if (lastExpiry.ms !== ms) lastExpiry = { ms, text: new Date(ms).toISOString() };
  return lastExpiry.text;
}

let lastExpiry: { ms: number; text: string } = { ms: Number.NaN, text: '' };

export const Scope = {
  Publish: 'notifications:publish',
  PresenceRead: 'presence:read',
} as const;
export type Scope = (typeof Scope)[keyof typeof Scope];
