import fc from 'fast-check';

/** How many objects/arrays a parsed JSON value opens inside one another (the reference depth). */
export function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

/** How many members and list elements a JSON value holds, at any depth (the value itself not counted). */
export function valueCountOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.reduce<number>((count, child) => count + valueCountOf(child), children.length);
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

/**
 * A valid-looking object (a DTO, a frame's data) left as it is, or with one field dropped,
 * retyped or nulled, or a field added, or wrapped in an array.
 */
export function mutatedObject(valid: fc.Arbitrary<Record<string, unknown> | undefined>): fc.Arbitrary<unknown> {
  return fc.tuple(valid, fc.nat(5), trickyString, fc.oneof(anyJsonValue, fc.constant(null))).map(([value, how, key, replacement]) => {
    const copy: Record<string, unknown> = { ...(value ?? {}) };
    const keys = Object.keys(copy);
    const someKey = keys.length > 0 ? keys[key.length % keys.length] : key;
    switch (how) {
      case 0:
      case 1:
        return value; // unchanged: valid, sometimes
      case 2:
        delete copy[someKey];
        return copy;
      case 3:
        copy[someKey] = replacement;
        return copy;
      case 4:
        copy[key] = replacement; // a field the DTO does not know (or a known one, retyped)
        return copy;
      default:
        return [copy]; // not an object
    }
  });
}

/** A JSON value and its text, compact or indented as JSON.stringify writes it: for the byte scanners' properties. */
export const formattedJsonText = fc.tuple(anyJsonValue, fc.constantFrom(undefined, 0, 2, '\t')).map(([value, space]) => ({
  value,
  bytes: Buffer.from(JSON.stringify(value, null, space)),
}));
