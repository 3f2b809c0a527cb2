import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const OPENAPI_PATH = '/openapi.json';

/** Herald's version, from its package.json (two levels up from src/openapi and dist/openapi alike). */
const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };

/**
 * The OpenAPI 3 description of the HTTP routes `app` registered, generated from the
 * controllers' decorators and the DTOs, so it cannot describe a route that the application
 * does not have: with INTERNAL_PORT, the public and the internal application each describe
 * their own.
 */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Herald HTTP API')
    .setDescription(
      'Publishing, presence, the inbox, health and metrics. The WebSocket protocol is described by docs/asyncapi.yaml; ' +
        'docs/protocol.md is the prose contract.',
    )
    .setVersion(version)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  return withUnmetExpectation(SwaggerModule.createDocument(app, config));
}

/**
 * Every operation may answer 417 (section 6: an Expect other than 100-continue), and every one
 * that takes a body 501 (a transfer coding other than chunked, RFC 9112), before any route runs:
 * said once here rather than on every controller method.
 */
function withUnmetExpectation(document: OpenAPIObject): OpenAPIObject {
  const errorAnswer = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/HttpErrorDto' } } } });
  const unmetExpectation = errorAnswer('An Expect header other than 100-continue');
  const unknownTransferCoding = errorAnswer('A body sent in a transfer coding other than chunked (Transfer-Encoding: gzip, chunked, for one)');
  for (const path of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const) {
      const operation = path[method];
      if (!operation) continue;
      operation.responses = { ...operation.responses, '417': unmetExpectation };
      if (operation.requestBody) operation.responses['501'] = unknownTransferCoding;
    }
  }
  return document;
}

/** Answers GET /openapi.json on `app` with its own description; call before it listens. */
export function serveOpenApi(app: INestApplication): void {
  const body = JSON.stringify(openApiDocument(app));
  app.getHttpAdapter().get(OPENAPI_PATH, (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('Cache-Control', 'no-cache').type('application/json; charset=utf-8').send(body);
  });
}
