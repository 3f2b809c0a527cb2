import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { boundedMessage } from '../parsing/json-text-length';

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
