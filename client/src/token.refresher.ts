import type { HeraldError } from './herald.errors.ts';
import type { Refreshed } from './protocol.ts';
import { timerDelayMs } from './timer.limit.ts';

/** What the refresher needs from its client. */
export interface TokenRefreshHost {
  /**
   * A token from the app's getToken, bounded in time and checked like the one a connection is
   * opened with (requestToken); rejects with a HeraldError of code `token`.
   */
  requestToken(): Promise<string>;
  /** The token the current connection was opened or last refreshed with. */
  currentToken(): string | null;
  isOpen(): boolean;
  /** Sends `refresh` on the current connection and resolves with the server's reply. */
  sendRefresh(token: string): Promise<Refreshed>;
  /** The server accepted `token` for the current connection. */
  refreshed(token: string): void;
  onError(error: HeraldError): void;
}

/**
 * The shortest time between two refreshes, whatever the clocks say: a client clock ahead of the
 * server's by more than a token's lifetime sees every token expired already, and without this
 * floor asked getToken and refreshed in a tight loop.
 */
export const MIN_REFRESH_INTERVAL_MS = 5_000;

/**
 * Swaps the connection's token in band before it expires (section 2, `refresh`): asks getToken
 * `refreshBeforeExpiryMs` ahead of expiry (at most half of the remaining lifetime), and again
 * later while there is time when getToken fails or returns the same token.
 *
 * `expiresAt` is on the server's clock. Read against a skewed local clock it is wrong by the
 * skew, so when the token carries `iat` its lifetime (`expiresAt` - `iat`, both the issuer's
 * figures) is counted on the local clock from when getToken returned it, and that bounds what
 * the local clock may claim: see remainingMs.
 */
export class TokenRefresher {
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by cancel, so a refresh under way for a connection that is gone does nothing. */
  #epoch = 0;
  /** When the last refresh asked getToken (local clock); null before the first one. */
  #lastRefreshAtMs: number | null = null;

  constructor(
    private readonly host: TokenRefreshHost,
    private readonly refreshBeforeExpiryMs: number,
  ) {}

  /**
   * Plans the refresh of `token`, which getToken returned at `receivedAtMs` (local clock) and
   * the server says expires at `expiresAt` (null: never), replacing any plan.
   */
  schedule(expiresAt: string | null, token: string | null, receivedAtMs: number): void {
    clearTimeout(this.#timer);
    if (expiresAt === null) return;
    const remaining = remainingMs(expiresAt, token, receivedAtMs);
    if (!Number.isFinite(remaining)) return;
    // Where the token expires on the local clock: what retries measure the time left against.
    const expiresAtLocalMs = Date.now() + remaining;
    const leadMs = Math.min(this.refreshBeforeExpiryMs, remaining / 2);
    const earliestMs = this.#lastRefreshAtMs === null ? 0 : this.#lastRefreshAtMs + MIN_REFRESH_INTERVAL_MS - Date.now();
    const delayMs = timerDelayMs(Math.max(remaining - leadMs, earliestMs));
    const epoch = this.#epoch;
    this.#timer = setTimeout(() => void this.#refresh(expiresAtLocalMs, epoch), delayMs);
  }

  /** The connection the plan was for is gone. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#epoch += 1;
  }

  async #refresh(expiresAtLocalMs: number, epoch: number): Promise<void> {
    this.#lastRefreshAtMs = Date.now();
    let token: string;
    try {
      token = await this.host.requestToken();
    } catch (error) {
      if (epoch !== this.#epoch) return;
      this.host.onError(error as HeraldError);
      return this.#retryLater(epoch, expiresAtLocalMs);
    }
    const receivedAtMs = Date.now();
    if (epoch !== this.#epoch || !this.host.isOpen()) return;
    // The same token again cannot extend anything; ask again later, while there is time.
    if (token === this.host.currentToken()) return this.#retryLater(epoch, expiresAtLocalMs);
    try {
      const refreshed = await this.host.sendRefresh(token);
      if (epoch !== this.#epoch) return;
      this.host.refreshed(token);
      this.schedule(refreshed.expiresAt, token, receivedAtMs);
    } catch (error) {
      // Refused or unanswered: the old token stays until the server closes with 4001, and the
      // reconnect that follows asks getToken again.
      if (epoch === this.#epoch) this.host.onError(error as HeraldError);
    }
  }

  #retryLater(epoch: number, expiresAtLocalMs: number): void {
    if (epoch !== this.#epoch) return;
    const remaining = expiresAtLocalMs - Date.now();
    if (remaining < 2_000) return;
    this.#timer = setTimeout(() => void this.#refresh(expiresAtLocalMs, epoch), Math.min(remaining / 2, 30_000));
  }
}

/**
 * How long `token` has left, now. The local clock's reading (`expiresAt` - now) is right when
 * the clocks agree, and then at most the token's lifetime counted from when it was received
 * (less when getToken returned a cached token). A reading above that bound means the local
 * clock is behind; one at or below zero, for a token the server has just accepted, means it is
 * ahead: in both cases the lifetime counted from receipt is what is left. Without `iat` the local
 * reading is all there is (MIN_REFRESH_INTERVAL_MS then keeps a clock that is ahead from looping).
 */
function remainingMs(expiresAt: string, token: string | null, receivedAtMs: number): number {
  const expiresAtMs = Date.parse(expiresAt);
  const byLocalClock = expiresAtMs - Date.now();
  const issuedAtMs = token === null ? null : jwtIssuedAtMs(token);
  if (issuedAtMs === null || !(expiresAtMs > issuedAtMs)) return byLocalClock;
  const byLifetime = expiresAtMs - issuedAtMs - (Date.now() - receivedAtMs);
  return byLocalClock > 0 && byLocalClock <= byLifetime ? byLocalClock : byLifetime;
}

/** The `iat` of a JWT in ms, or null when the token is no JWT or has no numeric `iat`. */
function jwtIssuedAtMs(token: string): number | null {
  const payload = token.split('.')[1];
  if (payload === undefined) return null;
  let claims: unknown;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    claims = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '=')));
  } catch {
    // Not a JWT we can read (an opaque token): the local clock is all we go by.
    return null;
  }
  const iat = (claims as { iat?: unknown } | null)?.iat;
  return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1_000 : null;
}
