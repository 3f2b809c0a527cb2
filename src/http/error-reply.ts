import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Section 6's error shape, `{statusCode, message, error}`, for the answers Herald gives before a
 * request reaches Nest and its exception filters (Fastify's router errors and request hooks).
 */
export function sendHttpError(reply: FastifyReply, statusCode: number, message?: string): void {
  const error = STATUS_CODES[statusCode] ?? 'Error';
  void reply.code(statusCode).type('application/json; charset=utf-8').send({ statusCode, message: message ?? error, error });
}
