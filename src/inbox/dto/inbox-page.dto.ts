import { ApiProperty } from '@nestjs/swagger';
import type { InboxItem, InboxPage, InboxReadResponse } from '@herald/client/protocol';

/** Response shapes of the inbox API, for the OpenAPI document; `implements` keeps them in step with the wire types. */
export class InboxItemDto implements InboxItem {
  @ApiProperty()
  id!: string;

  @ApiProperty({ description: "The notification's seq in the user's personal room" })
  seq!: string;

  @ApiProperty()
  type!: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  payload!: Record<string, unknown>;

  @ApiProperty({ format: 'date-time' })
  timestamp!: string;

  @ApiProperty()
  read!: boolean;
}

export class InboxPageDto implements InboxPage {
  @ApiProperty({ type: [InboxItemDto], description: 'Newest first' })
  items!: InboxItemDto[];

  @ApiProperty({ type: 'integer' })
  unread!: number;

  @ApiProperty({ type: 'string', nullable: true, description: 'Pass as before for the next page; null on the last' })
  next!: string | null;
}

export class InboxReadResponseDto implements InboxReadResponse {
  @ApiProperty({ type: 'integer' })
  unread!: number;
}
