import { ApiSchema, type ApiSchemaOptions, type SchemaObject } from '@nestjs/swagger';

/** What a DTO's schema says of the object as a whole, which no one field's @ApiProperty can. */
export type ObjectSchemaRules = Pick<SchemaObject, 'additionalProperties' | 'oneOf' | 'anyOf'>;

/**
 * Adds `rules` to the OpenAPI schema of the decorated DTO class. @ApiSchema's options are typed
 * as a name and a description, but @nestjs/swagger writes every option but the name into the
 * class's schema (SchemaObjectFactory.getSchemaMetadata); test/e2e/openapi.e2e-spec.ts checks
 * that the served document still carries them.
 */
export function ApiObjectSchema(rules: ObjectSchemaRules): ClassDecorator {
  return ApiSchema(rules as ApiSchemaOptions);
}

/**
 * The schema of a request body that ValidationPipe (forbidNonWhitelisted) refuses with 400 when
 * it has a field the DTO does not declare.
 */
export const REFUSES_UNKNOWN_FIELDS: ObjectSchemaRules = { additionalProperties: false };
