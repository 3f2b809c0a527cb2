import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';
import type { PublishBatchItemResult, PublishBatchResponse } from '@herald/client/protocol';
import { PublishResponseDto } from './publish-response.dto';

type ItemError = Extract<PublishBatchItemResult, { error: unknown }>['error'];

/**
 * A failed item's error: the status and message a single publish of it would have answered.
 * Not HttpErrorDto: the status's name (`error`) is not repeated in every item.
 */
export class PublishBatchItemErrorBodyDto implements ItemError {
  @ApiProperty({ type: 'integer', example: 400 })
  statusCode!: number;

  @ApiProperty({ example: 'notifications.3.type must be a string', description: 'Names the item and the field; several problems are separated by "; "' })
  message!: string;
}

/** A failed item's result. */
export class PublishBatchItemErrorDto {
  @ApiProperty({ type: PublishBatchItemErrorBodyDto })
  error!: PublishBatchItemErrorBodyDto;
}

/** 200/207 of POST /v1/notifications/batch, for the OpenAPI document; `implements` keeps it in step with the wire type. */
@ApiExtraModels(PublishResponseDto, PublishBatchItemErrorDto)
export class PublishBatchResponseDto implements PublishBatchResponse {
  @ApiProperty({ type: 'integer' })
  accepted!: number;

  @ApiProperty({ type: 'integer' })
  failed!: number;

  @ApiProperty({
    type: 'array',
    description: "One per notification, in the request's order",
    items: { oneOf: [{ $ref: getSchemaPath(PublishResponseDto) }, { $ref: getSchemaPath(PublishBatchItemErrorDto) }] },
  })
  results!: PublishBatchResponse['results'];
}
