import { Body, Controller, HttpCode, NotImplementedException, Post } from '@nestjs/common';
import { TokenSigner } from '../auth/token.signer';
import { DemoTokenRequest, type DemoTokenResponse } from './demo-token.dto';

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
    return this.signer.sign({ sub: request.sub, rooms: request.rooms, scope: request.scope, name: request.name, ttlS: request.ttl });
  }
}
