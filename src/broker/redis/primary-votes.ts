/**
 * One look for the primary behind Sentinel, weighed as Sentinel's client guidelines ask: the
 * server that most sentinels name, provided it says it is the primary (ROLE). Taking the first
 * answer that checked out let one sentinel cut off with an old primary that still takes writes
 * (a minority partition) put a pod there, and keep it there: two pods on two primaries, each
 * publish reaching only the members of its own pod's, both ready.
 *
 * Decided early once a strict majority of the sentinels listed name one server that checks out:
 * no answer still out can outvote it, so a frozen sentinel costs nothing while the others agree.
 * Otherwise decided once every sentinel has answered or failed and every server named is checked:
 * the server named most among those that check out, a tie going to the one named by the sentinel
 * listed first (so the outcome, and a failed start's error, read the same every time).
 */
export class PrimaryVotes {
  /** What each sentinel said, in their order: the server it names, or why it names none; undefined while awaited. */
  private readonly answers: Array<{ named: string } | { failure: string } | undefined>;
  /** Per server checked: true when it is the primary, or what it is instead (`slave`, `unreachable (...)`). */
  private readonly verdicts = new Map<string, true | string>();

  /** `sentinels`: each sentinel's `host:port`, in REDIS_SENTINELS order, to say which named what. */
  constructor(private readonly sentinels: readonly string[]) {
    this.answers = sentinels.map(() => undefined);
  }

  named(sentinelIndex: number, server: string): void {
    this.answers[sentinelIndex] = { named: server };
  }

  /** The sentinel named no server: it failed to answer, or does not know the primary. */
  failed(sentinelIndex: number, reason: string): void {
    this.answers[sentinelIndex] = { failure: reason };
  }

  /** The server says it is the primary (or the caller takes it as such). */
  confirmed(server: string): void {
    this.verdicts.set(server, true);
  }

  /** The server is not the primary: `what` it is instead. */
  refuted(server: string, what: string): void {
    this.verdicts.set(server, what);
  }

  /**
   * The primary to follow; or, when no server named checks out, why not, one entry per sentinel
   * in their order; undefined while answers or checks still out could change the outcome.
   */
  outcome(): { primary: string } | { failures: string[] } | undefined {
    const votes = new Map<string, { count: number; firstIndex: number }>();
    this.answers.forEach((answer, index) => {
      if (!answer || !('named' in answer)) return;
      const tally = votes.get(answer.named);
      if (tally) tally.count++;
      else votes.set(answer.named, { count: 1, firstIndex: index });
    });
    const majority = Math.floor(this.sentinels.length / 2) + 1;
    for (const [server, { count }] of votes) if (count >= majority && this.verdicts.get(server) === true) return { primary: server };
    const answers = this.answers.filter((answer) => answer !== undefined);
    if (answers.length < this.sentinels.length || [...votes.keys()].some((server) => !this.verdicts.has(server))) return undefined;
    let best: { server: string; count: number; firstIndex: number } | undefined;
    for (const [server, tally] of votes) {
      if (this.verdicts.get(server) !== true) continue;
      if (!best || tally.count > best.count || (tally.count === best.count && tally.firstIndex < best.firstIndex)) best = { server, ...tally };
    }
    if (best) return { primary: best.server };
    return { failures: answers.map((answer, index) => ('failure' in answer ? answer.failure : `${this.sentinels[index]} names ${answer.named}, which is ${this.verdicts.get(answer.named)}`)) };
  }
}
