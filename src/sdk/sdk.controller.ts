import { Controller, Get, Header, Query, Req, Res } from '@nestjs/common';
import { negotiate } from '@fastify/accept-negotiator';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeraldConfig } from '../config/herald.config';
import { SdkBundle, SdkEncoding } from './sdk.bundle';

/** A year: a URL that names the version never changes content. */
const VERSIONED_MAX_AGE_S = 31_536_000;
/** The unversioned URL follows upgrades within this long (and revalidates by ETag). */
const UNVERSIONED_MAX_AGE_S = 300;

/**
 * The browser SDK, served by Herald the way Socket.IO serves its client: a page on any allowed
 * origin imports `connect` (and gets `<herald-bell>`) from `/sdk/herald.js`, no build step.
 */
@ApiTags('sdk')
@Controller('sdk')
export class SdkController {
  constructor(
    private readonly bundle: SdkBundle,
    private readonly config: HeraldConfig,
  ) {}

  @Get('herald.js')
  @ApiOperation({ summary: 'The browser SDK as one ES module: exports connect; importing it defines <herald-bell>' })
  @ApiQuery({ name: 'v', required: false, description: 'The SDK version; when it is the served one, the answer is cacheable for a year (immutable)' })
  @ApiProduces('application/javascript')
  @ApiOkResponse({ description: 'The ES module', content: { 'application/javascript': { schema: { type: 'string' } } } })
  // A module script from another origin; pages with COEP may embed it too.
  @Header('Cross-Origin-Resource-Policy', 'cross-origin')
  async script(@Req() request: FastifyRequest, @Res() response: FastifyReply, @Query('v') version?: string): Promise<void> {
    const sdk = await this.bundle.script();
    // ALLOWED_ORIGINS set: the global CORS policy answers for the listed origins only. Unset,
    // any origin may open a WebSocket, so any origin may load the code that does it.
    if (!this.config.allowedOrigins) response.header('Access-Control-Allow-Origin', '*');
    const encoding = chosenEncoding(sdk.encodings, request.headers['accept-encoding']);
    response.header('Content-Type', 'application/javascript; charset=utf-8');
    response.header('Vary', 'Accept-Encoding');
    if (encoding.coding) response.header('Content-Encoding', encoding.coding);
    response.header('ETag', encoding.etag);
    response.header(
      'Cache-Control',
      version === sdk.version ? `public, max-age=${VERSIONED_MAX_AGE_S}, immutable` : `public, max-age=${UNVERSIONED_MAX_AGE_S}, must-revalidate`,
    );
    if (matchesEtag(request.headers['if-none-match'], encoding.etag)) {
      response.code(304).send();
      return;
    }
    response.code(200).send(encoding.bytes);
  }
}

/**
 * The coding of `encodings` Accept-Encoding prefers (RFC 9110 12.5.3: q-values, `*`; on a tie, the
 * first of `encodings`), by @fastify/accept-negotiator; the script as it is (the last) when none
 * is acceptable, as `identity` always is unless refused by name (`identity;q=0`, rare enough to be
 * answered as it is anyway).
 */
function chosenEncoding(encodings: readonly SdkEncoding[], header: string | string[] | undefined): SdkEncoding {
  const identity = encodings[encodings.length - 1];
  if (header === undefined) return identity;
  // Codings are case-insensitive (RFC 9110 8.4.1); the negotiator compares them as given.
  const chosen = negotiate((Array.isArray(header) ? header.join(',') : header).toLowerCase(), encodings.map(({ coding }) => coding ?? 'identity'));
  return encodings.find(({ coding }) => coding === chosen) ?? identity;
}

/**
 * If-None-Match as RFC 9110 (13.1.2) reads it: `*`, or a list of tags compared weakly (`W/` set
 * aside). A proxy that compresses on the way (nginx gzip) turns the strong tag weak, and a cache
 * may send several: each such revalidation was a full 200.
 */
function matchesEtag(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const tags = (Array.isArray(header) ? header.join(',') : header).split(',');
  return tags.some((tag) => tag.trim() === '*' || opaque(tag) === opaque(etag));
}
