/** A slot map entry as far as its primary goes (node-redis's `cluster.slots[slot]`). */
export interface SlotOwnership {
  master: { address: string };
}

/**
 * Each slot's primary as last looked at, to tell whether the slot map moved since: the health
 * check compares every subscribed channel with the slot map only then, since on a Cluster a
 * pod subscribes a channel per connected user and computing each one's slot every second cost
 * milliseconds at 10,000 users. One string reference per slot, compared by identity mostly.
 */
export class SlotOwners {
  private owners: Array<string | undefined> = [];

  /** Whether any slot's primary differs from the last call's (always on the first); remembers these. */
  changedSince(slots: ReadonlyArray<SlotOwnership | undefined>): boolean {
    let changed = this.owners.length !== slots.length;
    if (changed) this.owners = new Array<string | undefined>(slots.length);
    for (let slot = 0; slot < slots.length; slot++) {
      const owner = slots[slot]?.master.address;
      if (this.owners[slot] !== owner) {
        this.owners[slot] = owner;
        changed = true;
      }
    }
    return changed;
  }
}
