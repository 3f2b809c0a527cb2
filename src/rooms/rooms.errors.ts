import { ErrorCode } from '@herald/client/protocol';

/** A refusal with a contract error code; the gateway turns it into an `error` frame. */
export class RoomError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RoomError';
  }
}
