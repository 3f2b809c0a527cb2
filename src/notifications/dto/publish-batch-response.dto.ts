import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';
import type { PublishBatchResponse } from '@herald/client/protocol';
import { HttpErrorDto } from '../../openapi/http-error.dto';
import { PublishResponseDto } from './publish-response.dto';

/** A failed item's result: the error a single publish would have answered. */
export class PublishBatchItemErrorDto {
  @ApiProperty({ type: HttpErrorDto })
  error!: HttpErrorDto;
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
