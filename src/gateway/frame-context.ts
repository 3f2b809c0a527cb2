import { ArgumentsHost, createParamDecorator, ExecutionContext } from '@nestjs/common';
import { FrameId } from '@herald/client/protocol';
import { Connection } from '../connections/connection';

/**
 * Where the frame being handled came from: its connection and the client's `id`. Nest binds
 * the gateway's handlers once for all sockets (see HeraldWsAdapter), so its `getClient()` names
 * no particular socket; the frame's origin is keyed by the frame's data object instead, which
 * the FrameDispatcher parses and Nest hands unchanged to guards, param decorators and exception filters
 * (pipes transform only their own copy).
 */
export interface FrameOrigin {
  readonly connection: Connection;
  readonly id: FrameId | undefined;
}

const origins = new WeakMap<object, FrameOrigin>();

export function rememberFrame(data: object, connection: Connection, id: FrameId | undefined): void {
  origins.set(data, { connection, id });
}

/** The origin of the frame a guard, handler or filter is running for. */
export function frameOriginOf(host: ArgumentsHost): FrameOrigin | undefined {
  // The frame's data, as `switchToWs().getData()` reads it: that call attaches three new
  // closures to the host, and this runs for every guard, origin parameter and filter of a frame.
  const data: unknown = host.getArgByIndex(1);
  return typeof data === 'object' && data !== null ? origins.get(data) : undefined;
}

/** Injects the connection that sent the frame into a message handler. */
export const FrameConnection = createParamDecorator((_: unknown, context: ExecutionContext): Connection => originOf(context).connection);

/**
 * Injects the whole origin (connection and `id`), for a handler that answers by itself rather
 * than by returning its reply: one parameter rather than two, each of which Nest resolves
 * through its own chain of promises and pipes on every frame.
 */
export const FrameFrom = createParamDecorator((_: unknown, context: ExecutionContext): FrameOrigin => originOf(context));

function originOf(context: ExecutionContext): FrameOrigin {
  const origin = frameOriginOf(context);
  // Every frame reaches Nest through FrameDispatcher.dispatch, which records its origin first.
  if (!origin) throw new Error('Frame origin unknown: the frame did not come through the FrameDispatcher');
  return origin;
}
