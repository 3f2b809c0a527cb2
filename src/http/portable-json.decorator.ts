import { registerDecorator, ValidationArguments, ValidationOptions } from 'class-validator';
import { InexactNumber } from '../parsing/json-inexact-numbers';

/**
 * Why a parsed JSON value would not reach subscribers as sent, or undefined when it would,
 * naming the place by its path from `path` (`payload.items.0.n`):
 * - a number JSON.parse read as Infinity (`1e999`): JSON.stringify writes it as `null`;
 * - a number a double would change (an integer beyond 2^53, a non-zero number that underflows
 *   to 0), which the body parser marked (InexactNumber);
 * - a string or key with a lone surrogate (`"\ud800"`): Redis carries text as UTF-8, so a
 *   Redis key made of it collides with one made of U+FFFD, and Redis's Lua JSON reader refuses
 *   it, where the in-process broker keeps it (I-JSON, RFC 7493, forbids such strings).
 * `value` comes from JSON.parse, bounded in depth before it.
 */
export function unportableJson(value: unknown, path: string): string | undefined {
  // Every publish's payload is checked: the common answer without building a path per value.
  return firstUnportable(value) === undefined ? undefined : firstUnportable(value, path);
}

/**
 * The walk behind unportableJson: the first value that would not arrive as sent, described from
 * `path`; without `path`, only whether there is one (a non-empty answer), with no path built.
 */
function firstUnportable(value: unknown, path?: string): string | undefined {
  const values: unknown[] = [value];
  const paths: string[] | undefined = path === undefined ? undefined : [path];
  while (values.length > 0) {
    const current = values.pop();
    const at = paths?.pop() ?? '';
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) return `${at} is a number too large for JSON`;
    } else if (current instanceof InexactNumber) {
      return `${at} ${current.problem}`;
    } else if (typeof current === 'string') {
      if (!current.isWellFormed()) return `${at} ${NOT_WELL_FORMED}`;
    } else if (Array.isArray(current)) {
      // Pushed last to first, so that the first is taken first: a 400 names the first bad value.
      for (let index = current.length - 1; index >= 0; index--) {
        values.push(current[index]);
        paths?.push(`${at}.${index}`);
      }
    } else if (typeof current === 'object' && current !== null) {
      const keys = Object.keys(current);
      for (const key of keys) if (!key.isWellFormed()) return `${at} has a key that is not well-formed Unicode (no lone surrogates)`;
      for (let index = keys.length - 1; index >= 0; index--) {
        values.push((current as Record<string, unknown>)[keys[index]]);
        paths?.push(keyPath(at, keys[index]));
      }
    }
  }
  return undefined;
}

/**
 * `at.key` for a key that reads as one name, else `at["key"]`: a path written `payload.a.b` must
 * say whether it means key `a.b` or key `b` inside `a`.
 */
function keyPath(at: string, key: string): string {
  return PLAIN_KEY.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`;
}

const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/;

const NOT_WELL_FORMED = 'must be well-formed Unicode (no lone surrogates)';

/** A JSON object (not an array) whose every number and string reaches subscribers as sent (unportableJson). */
export const IsPortableJsonObject = (options?: ValidationOptions): PropertyDecorator => (target, property) =>
  registerDecorator({
    name: 'isPortableJsonObject',
    target: target.constructor,
    propertyName: property as string,
    options,
    validator: {
      validate: (value: unknown) => isJsonObject(value) && unportableJson(value, '') === undefined,
      defaultMessage: ({ value, property }: ValidationArguments) => (isJsonObject(value) && unportableJson(value, property)) || `${property} must be a JSON object`,
    },
  });

/**
 * A string without lone surrogates (`String.prototype.isWellFormed`): ids and the like become
 * Redis keys, where `"P\ud800"` and `"P\udfff"` would both be `"P\ufffd"` (see unportableJson).
 * Values of another type are left to the field's other rules.
 */
export const IsWellFormedUnicode = (options?: ValidationOptions): PropertyDecorator => (target, property) =>
  registerDecorator({
    name: 'isWellFormedUnicode',
    target: target.constructor,
    propertyName: property as string,
    options: { message: options?.each ? `$property must contain only strings that are well-formed Unicode (no lone surrogates)` : `$property ${NOT_WELL_FORMED}`, ...options },
    validator: { validate: (value: unknown) => typeof value !== 'string' || value.isWellFormed() },
  });

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
