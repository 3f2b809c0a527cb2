/** What a numeric option may be: at least `least`; finite unless `infinite`; a whole number when `whole`. */
export interface NumberOptionRule {
  least: number;
  infinite?: boolean;
  whole?: boolean;
}

/**
 * A numeric option as given: undefined (the caller's default applies) or a number its rule
 * allows; anything else throws a TypeError naming the option. Unchecked, a NaN delay reconnected
 * in a hot loop, a negative timeout fired at once, and a dedupeWindow of 0 dropped no duplicate.
 */
export function checkedNumberOption(name: string, value: unknown, rule: NumberOptionRule): number | undefined {
  if (value === undefined) return undefined;
  const allowed =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    value >= rule.least &&
    (rule.infinite === true || Number.isFinite(value)) &&
    (rule.whole !== true || Number.isInteger(value));
  if (!allowed) {
    throw new TypeError(`HeraldClient: ${name} must be a ${rule.infinite ? '' : 'finite '}${rule.whole ? 'whole ' : ''}number of at least ${rule.least}`);
  }
  return value;
}
