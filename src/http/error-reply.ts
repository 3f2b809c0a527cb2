import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { ERROR_MESSAGE_MAX_CHARS, boundedJsonText } from '../parsing/json-text-length';

/**
 * Section 6's error shape, `{statusCode, message, error}`, for the answers Herald gives before a
 * request reaches Nest and its exception filters (Fastify's router errors and request hooks).
 */
export function sendHttpError(reply: FastifyReply, statusCode: number, message?: string): void {
  void reply.code(statusCode).type('application/json; charset=utf-8').send(errorBody(statusCode, message));
}

/** `{statusCode, message, error}`, the message defaulting to the status's own name. */
export function errorBody(statusCode: number, message?: string): { statusCode: number; message: string; error: string } {
  const error = STATUS_CODES[statusCode] ?? 'Error';
  return { statusCode, message: message === undefined ? error : boundedMessage(message), error };
}

/**
 * A message as an error answer echoes it, cut to ERROR_MESSAGE_MAX_CHARS characters as JSON
 * writes it (escapes counted), `…` added, never splitting a surrogate pair: the bound a WebSocket
 * error frame keeps. Messages name what the client sent (an unknown field, a path), and a
 * 60,000-character key came back whole in a 400.
 */
export function boundedMessage(message: string): string {
  return boundedJsonText(message, ERROR_MESSAGE_MAX_CHARS);
}
