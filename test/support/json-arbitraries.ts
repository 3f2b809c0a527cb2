import fc from 'fast-check';

/** How many objects/arrays a parsed JSON value opens inside one another (the reference depth). */
export function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

/** Strings full of what a byte scan or a validator could trip on: quotes, backslashes, brackets, any code point. */
export const trickyString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', 'é', '😀', '\u0000', '\u2028') }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'),
);

/** Any JSON value, wrapped in up to `maxWrappers` arrays or objects so it reaches past any depth limit. */
export function deepJsonValue(maxWrappers = 80): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }), fc.array(fc.option(trickyString, { nil: undefined }), { maxLength: maxWrappers }), trickyString)
    .map(([inner, wrappers, sibling]) =>
      wrappers.reduce<unknown>((value, key) => (key === undefined ? [value, sibling] : { [key]: value, [`${key}.`]: sibling }), inner),
    );
}

/** Any JSON value, shallow or deep. */
export const anyJsonValue: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ stringUnit: 'binary' }), deepJsonValue());
