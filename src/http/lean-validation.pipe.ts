import { ArgumentMetadata, BadRequestException, ValidationPipe } from '@nestjs/common';
import { stripProtoKeys } from '@nestjs/common/utils/strip-proto-keys.util.js';
import { ARRAY_MAX_SIZE, getMetadataStorage, ValidationError } from 'class-validator';
import { typeFailuresOnly } from '../parsing/type-failures';
import { keptAsSentFields } from './kept-as-sent.decorator';

/**
 * A DTO whose common, plainly valid bodies can be accepted without class-validator: its
 * `acceptIfPlainlyValid` returns the DTO instance ValidationPipe would have returned, or
 * undefined whenever it is not certain, and ValidationPipe then decides (and words the 400 or
 * `bad_request`). It never refuses anything itself, so every error message stays ValidationPipe's.
 */
export interface PlainlyValidatable<T> {
  acceptIfPlainlyValid(value: unknown): T | undefined;
  /**
   * A rule across fields (a publish's targets), or undefined when it holds or cannot be judged:
   * a valid body that breaks it is refused with it alone, and an invalid one gets it beside its
   * fields' failures, so a 400 lists every rule broken at once.
   */
  bodyProblem?(value: unknown): string | undefined;
}

/**
 * The global ValidationPipe with a short way through for the hot DTOs (the publish body, the
 * join frame): class-transformer and class-validator cost more per publish than the broker
 * does, for bodies a few `typeof` checks prove valid (see docs/benchmarks.md).
 *
 * It also refuses, by name, the unknown fields ValidationPipe cannot see: a field named after a
 * member of Object.prototype (`constructor`, `toString`, `__proto__`...) passes its whitelist
 * check (class-validator looks the name up in a plain object, which "has" it) or is deleted
 * before validation, so `{"users":["u1"], "constructor": 1}` would be accepted with the field
 * silently dropped, where section 6 promises a 400 naming every unknown field.
 *
 * And it leaves the fields a DTO keeps as sent (KeptAsSent: a publish's payload) out of
 * ValidationPipe's prototype-key stripping, which would delete keys from arbitrary JSON.
 */
export class LeanValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // A POST without a body is answered as one with an empty body, which the parser reads as {}:
    // with the same lines, the rule across fields (bodyProblem) included.
    if (metadata.type === 'body' && value === undefined) value = {};
    const dto = metadata.type === 'body' ? (metadata.metatype as Partial<PlainlyValidatable<unknown>> | undefined) : undefined;
    const accepted = typeof dto?.acceptIfPlainlyValid === 'function' ? dto.acceptIfPlainlyValid(value) : undefined;
    // Judged before validation empties anything (hollowForValidation).
    const bodyProblem = typeof dto?.bodyProblem === 'function' ? dto.bodyProblem(accepted ?? value) : undefined;
    if (accepted !== undefined) {
      if (bodyProblem !== undefined) throw new BadRequestException([bodyProblem]);
      return accepted;
    }
    if (this.toValidate(metadata)) {
      const unknown = manyUnknownFields(value, metadata.metatype!);
      if (unknown) throw this.exceptionFactory(unknown);
      const unseen = prototypeNamedKeys(value);
      if (unseen.length > 0) throw this.exceptionFactory(unseen.map(unknownFieldError));
      hollowForValidation(value, metadata.metatype!);
      stripProtoKeysOutsideKept(value, metadata.metatype);
    }
    let validated: unknown;
    try {
      validated = await super.transform(value, metadata);
    } catch (error) {
      throw bodyProblem === undefined ? error : withProblem(error, bodyProblem);
    }
    if (bodyProblem !== undefined) throw new BadRequestException([bodyProblem]);
    return validated;
  }

  /** Done in transform, which knows the DTO's fields kept as sent; the body's own keys were checked there. */
  protected override stripProtoKeys(): void {}

  /**
   * Each message once: a field whose rules share one wording (`limit must be an integer from 1
   * to 100` for IsInt, Min and Max) would otherwise be named once per failing rule. And a value of
   * the wrong type is told only that (typeFailuresOnly).
   */
  protected override flattenValidationErrors(validationErrors: ValidationError[]): string[] {
    return wordedMessages(validationErrors, (errors) => super.flattenValidationErrors(errors));
  }
}

/** `error`, a 400 listing its messages, with `problem` listed after them; any other error as it is. */
function withProblem(error: unknown, problem: string): unknown {
  if (!(error instanceof BadRequestException)) return error;
  const { message } = error.getResponse() as { message?: unknown };
  return Array.isArray(message) ? new BadRequestException([...message, problem]) : error;
}

/**
 * A 400's messages as Herald words them from ValidationPipe's `flatten`: a value of the wrong
 * type told alone (typeFailuresOnly), each message once.
 */
export function wordedMessages(errors: ValidationError[], flatten: (errors: ValidationError[]) => string[]): string[] {
  return [...new Set(flatten(typeFailuresOnly(errors)))];
}

/** How many unknown fields a refusal names, one message each; the rest are counted in one more. */
export const UNKNOWN_FIELDS_NAMED = 10;

/** The fields class-validator knows on a DTO class (its whitelist), computed once per class. */
const knownFieldsByDto = new WeakMap<object, ReadonlySet<string>>();

export function knownFieldsOf(dto: Function): ReadonlySet<string> {
  let known = knownFieldsByDto.get(dto);
  if (!known) {
    known = new Set(getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false).map((rule) => rule.propertyName));
    knownFieldsByDto.set(dto, known);
  }
  return known;
}

/**
 * The refusal of a body with more than UNKNOWN_FIELDS_NAMED unknown fields, naming the first
 * ones, else undefined (ValidationPipe then names each, as it always has). Decided in one pass
 * over the keys, before class-transformer copies the body and class-validator builds an error,
 * a message and the bytes of the reply for every one of them: about 8 us per unknown field, so
 * a 60 KB frame of 6,000 of them held the event loop for 50 ms and answered 200 KB, within the
 * rate limit.
 */
export function manyUnknownFields(value: unknown, dto: Function): ValidationError[] | undefined {
  if (!isJsonObject(value)) return undefined;
  const known = knownFieldsOf(dto);
  const unknown: string[] = [];
  let more = 0;
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    if (unknown.length < UNKNOWN_FIELDS_NAMED) unknown.push(key);
    else more++;
  }
  if (more === 0) return undefined;
  const fields = unknown.map(unknownFieldError);
  fields.push(Object.assign(new ValidationError(), { property: '', children: [], constraints: { whitelistValidation: `and ${more} more properties that should not exist` } }));
  return fields;
}

/**
 * Empties, in place, whatever validation would walk without it changing a word of its verdict:
 * the value of every field `dto` does not have (refused by name, `property x should not exist`,
 * whatever it holds), and in the fields it has, every object and every object or list inside a
 * list. None of Herald's DTOs has a field holding nested JSON but those kept as sent (a publish's
 * payload, a batch's notifications, each validated on its own), which are left alone: `type`
 * and each element of `users` must be strings, and an object fails those rules in the same
 * words whatever it holds. The key stripping and class-transformer walked all of it first: a
 * batch envelope with a megabyte of little lists in an unknown field held the event loop a second,
 * and sixteen items of `"users": [[[...]]]` half a second. A list keeps its length, which
 * ArrayMaxSize judges, up to one element past that size: a list longer than its ArrayMaxSize is
 * judged on its first max + 1 elements, so an element rule broken only further on goes unnamed.
 */
export function hollowForValidation(value: unknown, dto: Function): void {
  if (!isJsonObject(value)) return;
  const known = knownFieldsOf(dto);
  const kept = keptAsSentFields(dto);
  const maxItems = maxItemsOf(dto);
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (kept.has(key) || typeof field !== 'object' || field === null) continue;
    if (!known.has(key) || !Array.isArray(field)) {
      defineField(value, key, emptyLike(field));
      continue;
    }
    // Refused for its size whatever follows: the rest of a list longer than that is not walked.
    const max = maxItems.get(key);
    if (max !== undefined && field.length > max + 1) field.length = max + 1;
    for (let index = 0; index < field.length; index++) if (typeof field[index] === 'object' && field[index] !== null) field[index] = emptyLike(field[index]);
  }
}

/** Each list field's ArrayMaxSize, computed once per DTO class. */
const maxItemsByDto = new WeakMap<object, ReadonlyMap<string, number>>();

function maxItemsOf(dto: Function): ReadonlyMap<string, number> {
  let maxItems = maxItemsByDto.get(dto);
  if (!maxItems) {
    const rules = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
    maxItems = new Map(rules.filter((rule) => rule.name === ARRAY_MAX_SIZE).map((rule) => [rule.propertyName, Number(rule.constraints[0])]));
    maxItemsByDto.set(dto, maxItems);
  }
  return maxItems;
}

/**
 * Replaces, in place, each object or list held by a field of `value` with an empty one of its
 * kind: for fields refused whatever they hold, in words that do not depend on it (every frame
 * field is a string), so validation need not walk it.
 */
export function hollowFields(value: Record<string, unknown>): void {
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (typeof field === 'object' && field !== null) defineField(value, key, emptyLike(field));
  }
}

const emptyLike = (value: object): object => (Array.isArray(value) ? [] : {});

/** Defined, not assigned: a `__proto__` key stays an own field. */
function defineField(value: Record<string, unknown>, key: string, field: unknown): void {
  Object.defineProperty(value, key, { value: field, enumerable: true, writable: true, configurable: true });
}

/**
 * The fields named after Object.prototype's members (none of Herald's DTOs has such a field):
 * the unknown fields class-validator's whitelist misses. Looked for in the body itself, not in
 * the objects it carries, such as a payload, which may hold any JSON: a batch's notifications
 * are each checked on their own (PublishBatchItemValidator), so one such item is refused alone.
 */
export function prototypeNamedKeys(value: unknown): string[] {
  return isJsonObject(value) ? ownPrototypeNames(value) : [];
}

/**
 * ValidationPipe's stripping of `__proto__`, `prototype` and `constructor` keys (class-transformer
 * would otherwise copy them, or throw on them), in place, everywhere in `value` but inside the
 * fields `metatype` keeps as sent. Call it after refusing the body's own prototype-named keys.
 */
export function stripProtoKeysOutsideKept(value: unknown, metatype: unknown): void {
  const kept = keptAsSentFields(metatype);
  if (kept.size === 0 || !isJsonObject(value)) return stripProtoKeys(value);
  for (const [field, fieldValue] of Object.entries(value)) if (!kept.has(field)) stripProtoKeys(fieldValue);
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function ownPrototypeNames(value: object): string[] {
  return Object.keys(value).filter((key) => key in Object.prototype || key === 'prototype');
}

/** The error class-validator's whitelist gives an unknown field, so the 400 reads the same. */
export function unknownFieldError(property: string): ValidationError {
  return Object.assign(new ValidationError(), { property, children: [], constraints: { whitelistValidation: `property ${property} should not exist` } });
}

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
