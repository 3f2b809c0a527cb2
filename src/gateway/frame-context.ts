import { ArgumentsHost, createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { FrameId } from '@herald/client/protocol';
import { Connection } from '../connections/connection';

/**
 * Where the frame being handled came from: its connection and the client's `id`. Nest binds
 * the gateway's handlers once for all sockets (see HeraldWsAdapter), so its `getClient()` names
 * no particular socket. The FrameDispatcher passes the origin to the handler as an argument of
 * its own (callHandler), and Nest hands a call's arguments unchanged to guards, param decorators
 * and exception filters, which read it back with frameOriginOf.
 */
export class FrameOrigin {
  constructor(
    readonly connection: Connection,
    readonly id: FrameId | undefined,
  ) {}
}

/**
 * Where the origin is among a call's arguments: after the client Nest binds the handlers to,
 * the frame's data (what `@MessageBody()` reads) and its event, the arguments Nest's own WsAdapter
 * passes; Nest appends the pattern after it.
 */
const ORIGIN_ARGUMENT = 3;

/** Calls a gateway handler (Nest's bound proxy) for a frame, with the frame's origin. */
export function callHandler(handler: MessageMappingProperties, data: object, event: string, origin: FrameOrigin): unknown {
  return handler.callback(data, event, origin);
}

/** The origin of the frame a guard, handler or filter is running for. */
export function frameOriginOf(host: ArgumentsHost): FrameOrigin | undefined {
  const origin: unknown = host.getArgByIndex(ORIGIN_ARGUMENT);
  return origin instanceof FrameOrigin ? origin : undefined;
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
  // Every frame reaches Nest through FrameDispatcher.dispatch, which passes its origin.
  if (!origin) throw new Error('Frame origin unknown: the frame did not come through the FrameDispatcher');
  return origin;
}
