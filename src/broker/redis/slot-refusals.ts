/**
 * Refusals of a slot by the node the slot map routes it to (CLUSTERDOWN), waiting for the slot
 * map to be asked for again, and the pace of those refreshes: the first refusal is acted on at
 * once, later ones at most once per `minIntervalMs`. A node removed with `redis-cli --cluster
 * del-node` refuses every slot while it still runs, and a cluster that lost a shard (full
 * coverage) refuses the shard's slots on every node: each refused call asking a refresh of its
 * own would be a CLUSTER SLOTS per call, where one per interval finds any change as soon.
 */
export class SlotRefusals {
  /** Addresses of the nodes that refused since the last refresh (not every refused call knows its node). */
  private refusedBy = new Set<string>();
  private pending = false;
  private lastTakenMs: number | undefined;

  constructor(
    private readonly minIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A call was refused, by the node at `address` when the caller knows which one. */
  note(address: string | undefined): void {
    this.pending = true;
    if (address !== undefined) this.refusedBy.add(address);
  }

  /** Whether a refusal waits for a refresh, and the interval since the last one has passed. */
  get due(): boolean {
    return this.pending && (this.lastTakenMs === undefined || this.now() - this.lastTakenMs >= this.minIntervalMs);
  }

  /** A refresh starts now: the nodes that refused (to ask another), and the interval begins again. */
  take(): ReadonlySet<string> {
    const refusedBy = this.refusedBy;
    this.refusedBy = new Set();
    this.pending = false;
    this.lastTakenMs = this.now();
    return refusedBy;
  }
}
