import { Exclude, Transform, Type } from 'class-transformer';

const KEPT_AS_SENT = 'herald:kept-as-sent';

/**
 * What class-transformer builds for a field kept as sent before `Transform` puts the value
 * itself in its place: a class that exposes nothing, so the value's keys are never walked.
 */
@Exclude()
class NotCopied {}

/**
 * The field's value reaches the handler exactly as sent, arbitrary JSON included (a publish's
 * `payload`). ValidationPipe would otherwise strip every `__proto__`, `prototype` and
 * `constructor` key inside it and copy it with class-transformer, which drops more keys
 * (`toString`, `valueOf`... beside a `constructor`) or throws: `{"title":"x","constructor":"Bob"}`
 * was answered 202 and delivered as `{"title":"x"}`. LeanValidationPipe leaves such fields out of
 * the stripping; the validators see the value as sent.
 */
export const KeptAsSent = (): PropertyDecorator => (target, property) => {
  Type(() => NotCopied)(target, property);
  Transform(({ obj, key }) => (obj as Record<string, unknown>)[key])(target, property);
  const fields: readonly (string | symbol)[] = Reflect.getOwnMetadata(KEPT_AS_SENT, target.constructor) ?? [];
  Reflect.defineMetadata(KEPT_AS_SENT, [...fields, property], target.constructor);
};

const NONE: ReadonlySet<string | symbol> = new Set();

/** The fields of `metatype` marked KeptAsSent. */
export function keptAsSentFields(metatype: unknown): ReadonlySet<string | symbol> {
  if (typeof metatype !== 'function') return NONE;
  const fields: readonly (string | symbol)[] | undefined = Reflect.getMetadata(KEPT_AS_SENT, metatype);
  return fields ? new Set(fields) : NONE;
}
