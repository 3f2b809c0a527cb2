import { SlotRefusals } from './slot-refusals';

describe('SlotRefusals', () => {
  it('asks for a refresh at the first refusal, then at most once per interval, naming the nodes that refused since the last', () => {
    let nowMs = 10_000;
    const refusals = new SlotRefusals(1000, () => nowMs);
    expect(refusals.due).toBe(false);

    refusals.note('10.0.0.4:6379');
    refusals.note(undefined);
    expect(refusals.due).toBe(true);
    expect([...refusals.take()]).toEqual(['10.0.0.4:6379']);
    expect(refusals.due).toBe(false);

    // Refused again at once (a cluster that lost a shard): the refresh waits for the interval.
    nowMs += 10;
    refusals.note('10.0.0.4:6379');
    refusals.note('10.0.0.5:6379');
    expect(refusals.due).toBe(false);
    nowMs += 990;
    expect(refusals.due).toBe(true);
    expect([...refusals.take()].sort()).toEqual(['10.0.0.4:6379', '10.0.0.5:6379']);

    // No refusal since: nothing to refresh, however long it has been.
    nowMs += 60_000;
    expect(refusals.due).toBe(false);
  });
});
