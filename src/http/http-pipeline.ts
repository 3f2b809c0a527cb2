import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { PUBLISH_BATCH_PATH } from '@herald/client/protocol';
import { HeraldConfig } from '../config/herald.config';
import { TokenVerifier } from '../auth/token.verifier';
import { JsonBodyLimits, useJsonBodyParser } from './json-body.parser';
import { JsonMediaTypeGuard } from './json-media-type.guard';
import { LeanValidationPipe } from './lean-validation.pipe';
import { refuseUnauthenticatedBodies } from './unauthenticated-body.hook';
import { refuseUnreadableBodies } from './unreadable-body.hook';

/**
 * What every Herald HTTP application does to a request before a controller sees it, the public
 * one and the internal one alike: a JSON body bounded in size and depth before it is parsed any
 * further, 415 for a body that is not JSON, and validation that names each bad or unknown field.
 */
export function configureHttpPipeline(app: NestFastifyApplication, config: HeraldConfig): void {
  const single: JsonBodyLimits = { limitBytes: config.maxPublishBytes, maxDepth: config.maxJsonDepth };
  // The batch route reads a larger body; its two extra levels (the envelope and its list) leave
  // each notification the usual depth; each is measured as sent, for MAX_PUBLISH_BYTES.
  const batch: JsonBodyLimits = { limitBytes: config.maxBatchPublishBytes, maxDepth: config.maxJsonDepth + 2, measuredList: 'notifications' };
  const fastify = app.getHttpAdapter().getInstance();
  useJsonBodyParser(fastify, (routeUrl) => (routeUrl === PUBLISH_BATCH_PATH ? batch : single));
  refuseUnauthenticatedBodies(fastify, app.get(TokenVerifier, { strict: false }));
  // After the token's 401/403: a coding the body cannot be read in is refused before it is asked for.
  refuseUnreadableBodies(fastify);
  // After the token guard (APP_GUARD, registered when the application was created): 401 before 415.
  app.useGlobalGuards(new JsonMediaTypeGuard());
  // Unknown fields are refused by name: a typo such as `room` for `rooms` must not be ignored.
  // The publish body and the join frame take a short way through when plainly valid.
  app.useGlobalPipes(new LeanValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }));
}
