import { NOT_SERVED, isReply } from './cluster.replies';

/** The pause before the second retry of a call whose slot migrates; doubled after each. */
const MIGRATION_FIRST_PAUSE_MS = 25;

/** What the tries of every call share: the connection's deadline, its state, and how it follows a refusal. */
export interface SlotTryRules {
  /** REDIS_COMMAND_TIMEOUT_MS: how long a call is tried again while its slot migrates. */
  readonly migrationMs: number;
  closed(): boolean;
  /**
   * Asks for the slot map again after the node `refusedBy` (when known) refused a call routed by
   * the map as of `slotMap` refreshes; true when the map was asked for again since (see
   * ClusterRedisConnection.followRefusal).
   */
  followRefusal(refusedBy: string | undefined, slotMap: number): Promise<boolean>;
}

/**
 * The further tries of one call on a Cluster whose slot is on the move: made at its first
 * failure, asked after each whether the call goes again. A command routed by key, a durable write
 * and a subscribe each loop the same way, and their refusals mean the same things.
 */
export class SlotTries {
  /** REDIS_COMMAND_TIMEOUT_MS from the first migration refusal, when there was one. */
  private migrationDeadlineMs: number | undefined;
  private pauseMs = 0;
  private followedRefusal = false;

  constructor(private readonly rules: SlotTryRules) {}

  /**
   * Paces the tries of one call while its slot migrates: when `error` is one of `replies`,
   * resolves true after the next pause (none before the first retry, then 25 ms doubling), false
   * once REDIS_COMMAND_TIMEOUT_MS from the first refusal would pass. While a slot migrates, Redis
   * answers a script whose keys are not all on one side TRYAGAIN (a publish's de-duplication key
   * never exists yet), and the source answers ASK for a room not written there yet: such a call is
   * refused for as long as the migration lasts. `redis-cli --cluster reshard` moves a slot in
   * milliseconds, so a call tried again shortly succeeds; a migration slower than that still
   * answers 503 (`unavailable`).
   */
  async afterMigrating(error: unknown, ...replies: RegExp[]): Promise<boolean> {
    if (!replies.some((reply) => isReply(error, reply))) return false;
    this.migrationDeadlineMs ??= Date.now() + this.rules.migrationMs;
    if (this.rules.closed() || Date.now() + this.pauseMs >= this.migrationDeadlineMs) return false;
    if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    this.pauseMs = this.pauseMs === 0 ? MIGRATION_FIRST_PAUSE_MS : 2 * this.pauseMs;
    return true;
  }

  /**
   * Whether a call refused by the node the slot map sends it to (NOT_SERVED) goes again: once per
   * call, when the slot map was asked for again since it was routed by `slotMap` (followRefusal).
   */
  async afterRefusal(error: unknown, refusedBy: string | undefined, slotMap: number): Promise<boolean> {
    if (!isReply(error, NOT_SERVED) || this.followedRefusal) return false;
    if (!(await this.rules.followRefusal(refusedBy, slotMap))) return false;
    this.followedRefusal = true;
    return true;
  }
}
