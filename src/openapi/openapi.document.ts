import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { Request, Response } from 'express';

export const OPENAPI_PATH = '/openapi.json';

/**
 * The OpenAPI 3 description of the HTTP routes `app` registered, generated from the
 * controllers' decorators and the DTOs, so it cannot describe a route that does not exist.
 * `servedHere` keeps the paths a port answers (with INTERNAL_PORT, each port has its own set).
 */
export function openApiDocument(app: INestApplication, version: string, servedHere: (path: string) => boolean = () => true): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Herald HTTP API')
    .setDescription(
      'Publishing, presence, the inbox, health and metrics. The WebSocket protocol is described by docs/asyncapi.yaml; ' +
        'docs/protocol.md is the prose contract.',
    )
    .setVersion(version)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.paths = Object.fromEntries(
    // A path template as a request path ({room} -> a sample value), for the port's own rule.
    Object.entries(document.paths).filter(([template]) => servedHere(template.replace(/\{[^}]+\}/g, 'x'))),
  );
  return document;
}

/** An Express handler answering with the document as JSON. */
export function serveOpenApi(document: OpenAPIObject): (request: Request, response: Response) => void {
  const body = JSON.stringify(document);
  return (_request, response) => {
    response.setHeader('Cache-Control', 'no-cache');
    response.type('application/json').send(body);
  };
}
