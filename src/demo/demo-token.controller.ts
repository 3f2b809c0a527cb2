import { Body, Controller, HttpCode, NotImplementedException, Post } from '@nestjs/common';
import { TokenSigner } from '../auth/token.signer';
import { DemoTokenRequest, type DemoTokenResponse } from './demo-token.dto';

const DEFAULT_TTL_S = 3600;

/** Development only: mints a token for whoever asks, so the demo page works without an identity provider. */
@Controller('demo')
export class DemoTokenController {
  constructor(private readonly signer: TokenSigner) {}

  @Post('token')
  @HttpCode(200)
  mint(@Body() request: DemoTokenRequest): DemoTokenResponse {
    if (!this.signer.available) {
      throw new NotImplementedException('Development tokens need an HS256 JWT_SECRET; with a public key, tokens come from your identity provider');
    }
    const ttlS = request.ttl ?? DEFAULT_TTL_S;
    const token = this.signer.sign({ sub: request.sub, rooms: request.rooms, scope: request.scope, name: request.name, ttlS });
    return { token, expiresAt: new Date(Date.now() + ttlS * 1000).toISOString() };
  }
}
