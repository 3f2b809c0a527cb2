import { ValidationError } from 'class-validator';
import { typeFailureOnly, typeFailuresOnly } from './type-failures';

const failure = (property: string, constraints: Record<string, string>, children: ValidationError[] = []) => Object.assign(new ValidationError(), { property, constraints, children });

describe('typeFailureOnly', () => {
  it('keeps only the type rule when the type is wrong', () => {
    expect(typeFailureOnly({ arrayMaxSize: 'users must contain no more than 1000 elements', isArray: 'users must be an array' })).toEqual({ isArray: 'users must be an array' });
    expect(typeFailureOnly({ min: 'PORT must not be less than 0', isInt: 'PORT must be an integer' })).toEqual({ isInt: 'PORT must be an integer' });
  });

  it('keeps every failed rule when the type is right', () => {
    const constraints = { isLength: 'type must be longer than or equal to 1 characters', isWellFormedUnicode: 'type must be well-formed Unicode' };
    expect(typeFailureOnly(constraints)).toEqual(constraints);
  });
});

describe('typeFailuresOnly', () => {
  it('applies to nested fields too, and leaves the errors it was given as they were', () => {
    const child = failure('type', { isLength: 'too short', isString: 'type must be a string' });
    const errors = [failure('notifications', { arrayMaxSize: 'too many', isArray: 'notifications must be an array' }, [child]), failure('id', { isLength: 'id is too long' })];
    const told = typeFailuresOnly(errors);
    expect(told.map((error) => [error.property, error.constraints])).toEqual([
      ['notifications', { isArray: 'notifications must be an array' }],
      ['id', { isLength: 'id is too long' }],
    ]);
    expect(told[0].children!.map((error) => error.constraints)).toEqual([{ isString: 'type must be a string' }]);
    expect(told[0]).toBeInstanceOf(ValidationError);
    expect(errors[0].constraints).toEqual({ arrayMaxSize: 'too many', isArray: 'notifications must be an array' });
    expect(child.constraints).toEqual({ isLength: 'too short', isString: 'type must be a string' });
  });
});
