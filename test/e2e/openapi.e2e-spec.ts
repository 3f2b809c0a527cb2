import SwaggerParser from '@apidevtools/swagger-parser';
import { http } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';

type Schema = { properties?: Record<string, { $ref?: string }>; required?: string[]; additionalProperties?: unknown; oneOf?: unknown[]; anyOf?: unknown[] };
type OpenApi = { openapi: string; info: { version: string }; paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>; components: { schemas: Record<string, Schema> } };

/** The component schema a `$ref` names. */
const referenced = (document: OpenApi, ref: string | undefined): Schema => document.components.schemas[ref!.replace('#/components/schemas/', '')];

const operations = (document: OpenApi) =>
  Object.entries(document.paths)
    .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();

/** A request to each documented operation; a route the port does not serve answers 404. */
async function answers(baseUrl: string, operation: string): Promise<number> {
  const [method, template] = operation.split(' ');
  const path = template.replace('{room}', 'chat:1');
  const token = path.startsWith('/v1/inbox') ? signToken({ sub: 'olga' }) : publisherToken();
  const body = method === 'POST' ? {} : undefined;
  return (await http(method, `${baseUrl}${path}`, { token, body })).status;
}

describe('GET /openapi.json', () => {
  describe('on one port', () => {
    let app: TestApp;
    beforeAll(async () => (app = await createTestApp({ DEMO_ENABLED: 'false' })));
    afterAll(() => app.close());

    it('is a valid OpenAPI 3 document of every HTTP route, each of which exists', async () => {
      const response = await http('GET', `${app.url}/openapi.json`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const document = response.body as OpenApi;
      await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined();
      expect(document.openapi).toMatch(/^3\./);
      expect(operations(document)).toEqual([
        'GET /healthz',
        'GET /metrics',
        'GET /readyz',
        'GET /sdk/herald.js',
        'GET /v1/inbox',
        'GET /v1/rooms/{room}/presence',
        'POST /v1/inbox/read',
        'POST /v1/notifications',
        'POST /v1/notifications/batch',
      ]);
      for (const operation of operations(document)) expect([operation, await answers(app.url, operation)]).not.toEqual([operation, 404]);
    });

    it('describes the request bodies from the DTOs and says which routes need a token', async () => {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      const publish = document.components.schemas.PublishNotificationDto;
      expect(Object.keys(publish.properties ?? {}).sort()).toEqual(['id', 'payload', 'rooms', 'type', 'users']);
      expect(publish.required?.sort()).toEqual(['payload', 'type']);
      expect(Object.keys(document.components.schemas.MarkReadDto.properties ?? {}).sort()).toEqual(['all', 'ids']);
      expect(Object.keys(document.components.schemas.InboxPageDto.properties ?? {}).sort()).toEqual(['items', 'next', 'unread']);
      // Section 6's error shape: every error body has all three.
      expect(document.components.schemas.HttpErrorDto.required?.sort()).toEqual(['error', 'message', 'statusCode']);
      expect(document.paths['/v1/notifications'].post.security).toEqual([{ bearer: [] }]);
      expect(document.paths['/healthz'].get.security).toBeUndefined();
    });

    it('describes the request bodies as closed, and a mark-read as exactly one of ids and all, as they are validated', async () => {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      const { PublishNotificationDto, PublishBatchDto, MarkReadDto } = document.components.schemas;
      for (const schema of [PublishNotificationDto, PublishBatchDto, MarkReadDto]) expect(schema.additionalProperties).toBe(false);
      expect(MarkReadDto.oneOf).toEqual([{ required: ['ids'] }, { required: ['all'] }]);
      const markRead = (body: unknown) => http('POST', `${app.url}/v1/inbox/read`, { token: signToken({ sub: 'olga' }), body });
      expect((await markRead({ ids: ['a'], all: true })).status).toBe(400);
      expect((await markRead({})).status).toBe(400);
      expect((await markRead({ all: true, extra: 1 })).status).toBe(400);
    });

    it('describes a publish as naming rooms or users, one of them not empty, as it is validated', async () => {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      expect(document.components.schemas.PublishNotificationDto.anyOf).toEqual([
        { required: ['rooms'], properties: { rooms: { type: 'array', minItems: 1 } } },
        { required: ['users'], properties: { users: { type: 'array', minItems: 1 } } },
      ]);
      const publish = (targets: object) => http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), body: { ...targets, type: 't', payload: {} } });
      expect((await publish({})).status).toBe(400);
      expect((await publish({ rooms: [], users: [] })).status).toBe(400);
      expect((await publish({ rooms: [], users: ['openapi-u'] })).status).toBe(202);
      expect((await publish({ rooms: ['public:openapi'] })).status).toBe(202);
    });

    it('lists the 417 every operation answers to an Expect other than 100-continue, in the error shape', async () => {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      for (const operation of operations(document)) {
        const [method, path] = operation.split(' ');
        expect([operation, document.paths[path][method.toLowerCase()].responses['417']]).toEqual([operation, expect.objectContaining({ content: { 'application/json': { schema: { $ref: '#/components/schemas/HttpErrorDto' } } } })]);
      }
      // The answer itself: http-platform.e2e-spec.ts (fetch refuses to send an Expect header).
    });

    it('describes a failed batch item\'s error with exactly the fields it is answered with', async () => {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      const failed = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), body: { notifications: [{ users: ['u1'], type: 't', payload: {} }, { users: ['u1'], type: 7, payload: {} }] } });
      expect(failed.status).toBe(207);
      const answered = Object.keys(failed.body.results[1].error).sort();
      const schema = referenced(document, referenced(document, '#/components/schemas/PublishBatchItemErrorDto').properties?.error.$ref);
      expect(Object.keys(schema.properties ?? {}).sort()).toEqual(answered);
      expect(schema.required?.sort()).toEqual(answered);
    });

    it('lists every status section 6 says each token-protected route can answer', async () => {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      const statuses = (path: string, method: string) => Object.keys(document.paths[path][method].responses).sort();
      expect(statuses('/v1/notifications', 'post')).toEqual(['202', '400', '401', '403', '409', '413', '415', '417', '501', '503']);
      expect(statuses('/v1/notifications/batch', 'post')).toEqual(['200', '207', '400', '401', '403', '413', '415', '417', '501', '503']);
      expect(statuses('/v1/inbox', 'get')).toEqual(['200', '400', '401', '417', '503']);
      expect(statuses('/v1/inbox/read', 'post')).toEqual(['200', '400', '401', '413', '415', '417', '501', '503']);
      // A body over MAX_PUBLISH_BYTES (65536 by default) is refused there as on a publish.
      const oversized = await http('POST', `${app.url}/v1/inbox/read`, { token: signToken({ sub: 'olga' }), body: { ids: Array.from({ length: 1000 }, (_, index) => `${index}`.padStart(70, 'x')) } });
      expect(oversized.status).toBe(413);
      expect(statuses('/v1/rooms/{room}/presence', 'get')).toEqual(['200', '400', '401', '403', '417', '503']);
    });
  });

  describe('with INTERNAL_PORT', () => {
    let app: TestApp;
    beforeAll(async () => (app = await createTestApp({ INTERNAL_PORT: '0', DEMO_ENABLED: 'false' })));
    afterAll(() => app.close());

    it('describes on each port exactly the routes that port serves', async () => {
      const publicDocument = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      const internalDocument = (await http('GET', `${app.internalUrl}/openapi.json`)).body as OpenApi;
      expect(operations(publicDocument)).toEqual(['GET /healthz', 'GET /readyz', 'GET /sdk/herald.js', 'GET /v1/inbox', 'POST /v1/inbox/read']);
      expect(operations(internalDocument)).toEqual(['GET /healthz', 'GET /metrics', 'GET /readyz', 'GET /v1/rooms/{room}/presence', 'POST /v1/notifications', 'POST /v1/notifications/batch']);
      await expect(SwaggerParser.validate(structuredClone(internalDocument) as never)).resolves.toBeDefined();
      for (const [url, document] of [[app.url, publicDocument], [app.internalUrl!, internalDocument]] as const) {
        for (const operation of operations(document)) expect([operation, await answers(url, operation)]).not.toEqual([operation, 404]);
      }
    });
  });

  it('lists the demo token endpoint only where it exists', async () => {
    const app = await createTestApp({ NODE_ENV: 'development', JWT_SECRET: '' });
    try {
      const document = (await http('GET', `${app.url}/openapi.json`)).body as OpenApi;
      expect(operations(document)).toContain('POST /demo/token');
      expect(operations(document)).not.toContain('GET /demo');
    } finally {
      await app.close();
    }
  });
});
