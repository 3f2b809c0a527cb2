import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';

/**
 * A DTO whose common, plainly valid bodies can be accepted without class-validator: its
 * `acceptIfPlainlyValid` returns the DTO instance ValidationPipe would have returned, or
 * undefined whenever it is not certain, and ValidationPipe then decides (and words the 400 or
 * `bad_request`). It never refuses anything itself, so every error message stays ValidationPipe's.
 */
export interface PlainlyValidatable<T> {
  acceptIfPlainlyValid(value: unknown): T | undefined;
}

/**
 * The global ValidationPipe with a short way through for the hot DTOs (the publish body, the
 * join frame): class-transformer and class-validator cost more per publish than the broker
 * does, for bodies a few `typeof` checks prove valid (see docs/benchmarks.md).
 */
export class LeanValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const dto = metadata.type === 'body' ? (metadata.metatype as Partial<PlainlyValidatable<unknown>> | undefined) : undefined;
    const accepted = typeof dto?.acceptIfPlainlyValid === 'function' ? dto.acceptIfPlainlyValid(value) : undefined;
    return accepted === undefined ? super.transform(value, metadata) : Promise.resolve(accepted);
  }
}

/** Keys ValidationPipe deletes wherever they appear in a body (prototype pollution). */
const STRIPPED_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** A plain JSON object whose keys are all among `allowed` (an unknown one is a 400 for ValidationPipe to word). */
export function isPlainObjectWithKeys(value: unknown, allowed: ReadonlySet<string>): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) if (!allowed.has(key)) return false;
  return true;
}

/**
 * A string that class-validator's Length(min, max) certainly accepts. validator.js counts a
 * surrogate pair or a variation selector as no extra character; strings with either are left to it.
 */
export function hasPlainLength(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max && !UNCOUNTED_CHARS.test(value);
}
const UNCOUNTED_CHARS = /[\uD800-\uDFFF\uFE0E\uFE0F]/;

/** An array of at most `maxItems` strings, each matching `pattern` (an `each: true` rule). */
export function isArrayOfMatching(value: unknown, maxItems: number, pattern: RegExp): value is string[] {
  if (!Array.isArray(value) || value.length > maxItems) return false;
  for (const item of value) if (typeof item !== 'string' || !pattern.test(item)) return false;
  return true;
}

/**
 * A JSON value that ValidationPipe would hand on unchanged: plain objects and arrays all the way
 * down, and none of the keys it deletes. (It copies the value with class-transformer, which for
 * such a value builds an equal one.) `value` comes from JSON.parse, bounded in depth before it.
 */
export function isPlainJsonTree(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null) continue;
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
      continue;
    }
    if (Object.getPrototypeOf(current) !== Object.prototype) return false;
    for (const key in current) {
      if (STRIPPED_KEYS.has(key)) return false;
      stack.push((current as Record<string, unknown>)[key]);
    }
  }
  return true;
}
