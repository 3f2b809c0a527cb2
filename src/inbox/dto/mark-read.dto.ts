import { ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, Equals, IsArray, IsString, MaxLength, ValidateIf } from 'class-validator';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';
import { IsWellFormedUnicode } from '../../http/portable-json.decorator';
import { ApiObjectSchema, REFUSES_UNKNOWN_FIELDS } from '../../openapi/api-object-schema.decorator';

/** Body of POST /v1/inbox/read: `{"ids": [...]}` or `{"all": true}`, never both (the controller refuses both). */
@ApiObjectSchema({ ...REFUSES_UNKNOWN_FIELDS, oneOf: [{ required: ['ids'] }, { required: ['all'] }] })
export class MarkReadDto {
  @ApiPropertyOptional({ type: 'array', items: { type: 'string', maxLength: 128 }, minItems: 1, maxItems: 1000, description: 'Ids to mark read (ids not in the inbox are ignored); send this or all. The body must fit MAX_PUBLISH_BYTES (64 KiB by default: about 450 ids of 128 characters)' })
  @ValidateIf((body: MarkReadDto) => body.all === undefined)
  @IsArray({ message: 'ids must be a non-empty list of notification ids (or send {"all": true})' })
  @ArrayNotEmpty({ message: 'ids must be a non-empty list of notification ids (or send {"all": true})' })
  @ArrayMaxSize(1000)
  @IsString({ each: true, message: 'ids must contain only strings' })
  @MaxLength(128, { each: true, message: 'ids must contain only strings of at most 128 characters' })
  @IsWellFormedUnicode({ each: true })
  ids?: string[];

  @ApiPropertyOptional({ type: 'boolean', enum: [true], description: 'Mark everything read' })
  @MayBeOmitted()
  @Equals(true, { message: 'all must be true' })
  all?: true;
}
