import { ValidateIf } from 'class-validator';

/**
 * The field may be left out; any value sent, `null` included, is validated. class-validator's
 * `@IsOptional()` also skips `null`, so `{"rooms": null}` passed validation and then failed in
 * the service (500, "rooms is not iterable").
 */
export const MayBeOmitted = (): PropertyDecorator => ValidateIf((_object: object, value: unknown) => value !== undefined);
