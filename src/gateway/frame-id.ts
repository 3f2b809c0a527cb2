import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { FrameId } from '@herald/client/protocol';

/**
 * The client's `id` for the frame being handled, keyed by the frame's data object: the adapter
 * parses the frame, Nest hands the same object to pipes, handlers and the exception filter.
 */
const frameIds = new WeakMap<object, FrameId>();

export function rememberFrameId(data: object, id: FrameId | undefined): void {
  if (id !== undefined) frameIds.set(data, id);
}

export function frameIdOf(data: unknown): FrameId | undefined {
  return typeof data === 'object' && data !== null ? frameIds.get(data) : undefined;
}

/** Injects the current frame's `id` into a message handler. */
export const FrameIdParam = createParamDecorator((_: unknown, context: ExecutionContext) => frameIdOf(context.switchToWs().getData()));
