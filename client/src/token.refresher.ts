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
 * Swaps the connection's token in band before it expires (section 2, `refresh`): asks getToken
 * `refreshBeforeExpiryMs` ahead of `expiresAt` (at most half of the remaining lifetime), and
 * again later while there is time when getToken fails or returns the same token.
 */
export class TokenRefresher {
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by cancel, so a refresh under way for a connection that is gone does nothing. */
  #epoch = 0;

  constructor(
    private readonly host: TokenRefreshHost,
    private readonly refreshBeforeExpiryMs: number,
  ) {}

  /** Plans the refresh of a token that expires at `expiresAt` (null: never), replacing any plan. */
  schedule(expiresAt: string | null): void {
    clearTimeout(this.#timer);
    if (expiresAt === null) return;
    const remainingMs = Date.parse(expiresAt) - Date.now();
    if (!Number.isFinite(remainingMs)) return;
    const leadMs = Math.min(this.refreshBeforeExpiryMs, remainingMs / 2);
    const delayMs = timerDelayMs(remainingMs - leadMs);
    const epoch = this.#epoch;
    this.#timer = setTimeout(() => void this.#refresh(expiresAt, epoch), delayMs);
  }

  /** The connection the plan was for is gone. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#epoch += 1;
  }

  async #refresh(expiresAt: string, epoch: number): Promise<void> {
    let token: string;
    try {
      token = await this.host.requestToken();
    } catch (error) {
      if (epoch !== this.#epoch) return;
      this.host.onError(error as HeraldError);
      return this.#retryLater(epoch, expiresAt);
    }
    if (epoch !== this.#epoch || !this.host.isOpen()) return;
    // The same token again cannot extend anything; ask again later, while there is time.
    if (token === this.host.currentToken()) return this.#retryLater(epoch, expiresAt);
    try {
      const refreshed = await this.host.sendRefresh(token);
      if (epoch !== this.#epoch) return;
      this.host.refreshed(token);
      this.schedule(refreshed.expiresAt);
    } catch (error) {
      // Refused or unanswered: the old token stays until the server closes with 4001, and the
      // reconnect that follows asks getToken again.
      if (epoch === this.#epoch) this.host.onError(error as HeraldError);
    }
  }

  #retryLater(epoch: number, expiresAt: string): void {
    if (epoch !== this.#epoch) return;
    const remainingMs = Date.parse(expiresAt) - Date.now();
    if (remainingMs < 2_000) return;
    this.#timer = setTimeout(() => void this.#refresh(expiresAt, epoch), Math.min(remainingMs / 2, 30_000));
  }
}
