import { UnreadCheck } from './webhook-event';

/**
 * Notifications waiting to be checked for being read. Drivers: MemoryUnreadSchedule and
 * RedisUnreadSchedule (shared by every pod, so a check outlives the pod that published).
 */
export abstract class UnreadSchedule {
  /**
   * Due `delayMs` from now (again, for a check that could not be made). Resolves with how many
   * were dropped (full). Unlike the webhook queue, a full schedule refuses the new checks: each
   * reminder stands alone (no later one corrects an earlier one, as an offline does an online),
   * and the oldest are those about to come due.
   */
  abstract add(checks: UnreadCheck[], delayMs: number): Promise<number>;

  /**
   * Up to `max` checks that are due, each claimed for `leaseMs`: a pod that dies before `done`
   * leaves them to come due again.
   */
  abstract claimDue(max: number, leaseMs: number): Promise<UnreadCheck[]>;

  abstract done(checks: UnreadCheck[]): Promise<void>;
}
