import { SlotOwners, SlotOwnership } from './slot-owners';

const servedBy = (address: string): SlotOwnership => ({ master: { address } });

describe('SlotOwners', () => {
  it('tells a slot map that moved since the last look from one that did not', () => {
    const owners = new SlotOwners();
    const a = servedBy('10.0.0.1:6379');
    const b = servedBy('10.0.0.2:6379');
    const slots: Array<SlotOwnership | undefined> = [a, a, b, b];
    // The first look has nothing to compare with.
    expect(owners.changedSince(slots)).toBe(true);
    expect(owners.changedSince(slots)).toBe(false);
    // A new slot map object with the same primaries (a refresh that moved nothing).
    expect(owners.changedSince([servedBy('10.0.0.1:6379'), a, b, servedBy('10.0.0.2:6379')])).toBe(false);
    // One slot migrated.
    slots[1] = b;
    expect(owners.changedSince(slots)).toBe(true);
    expect(owners.changedSince(slots)).toBe(false);
    // A slot left without a primary, then served again.
    slots[3] = undefined;
    expect(owners.changedSince(slots)).toBe(true);
    slots[3] = b;
    expect(owners.changedSince(slots)).toBe(true);
    expect(owners.changedSince(slots)).toBe(false);
  });
});
