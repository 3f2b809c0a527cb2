import { ValidationError } from 'class-validator';

/** The rules that say what type a field must be: when one fails, the field's other rules say nothing useful. */
const TYPE_RULES = ['isArray', 'isString', 'isInt', 'isNumber', 'isBoolean', 'isObject'] as const;

/**
 * A field's failed rules as they should be told: only the type's, when the value is of the wrong
 * type. `{"users": "bob"}` was answered both "users must be an array" and "users must contain no
 * more than 1000 elements", and `PORT=abc` "must be an integer" beside "must not be less than 0".
 */
export function typeFailureOnly(constraints: Record<string, string>): Record<string, string> {
  for (const rule of TYPE_RULES) if (constraints[rule] !== undefined) return { [rule]: constraints[rule] };
  return constraints;
}

/** `typeFailureOnly` for every field of a validation's errors, nested ones included; the errors are left as they were. */
export function typeFailuresOnly(errors: ValidationError[]): ValidationError[] {
  return errors.map((error) =>
    Object.assign(new ValidationError(), error, {
      constraints: error.constraints && typeFailureOnly(error.constraints),
      children: error.children && typeFailuresOnly(error.children),
    }),
  );
}
