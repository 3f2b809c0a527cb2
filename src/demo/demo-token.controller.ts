import { Body, Controller, HttpCode, NotImplementedException, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TokenSigner } from '../auth/token.signer';
import { DemoTokenRequest, DemoTokenResponse } from './demo-token.dto';

/** Development only: mints a token for whoever asks, so the demo page works without an identity provider. */
@ApiTags('demo')
@Controller('demo')
export class DemoTokenController {
  constructor(private readonly signer: TokenSigner) {}

  @Post('token')
  @HttpCode(200)
  @ApiOperation({ summary: 'Development only: mint a token for anyone who asks' })
  @ApiOkResponse({ type: DemoTokenResponse })
  mint(@Body() request: DemoTokenRequest): DemoTokenResponse {
    if (!this.signer.available) {
      throw new NotImplementedException('Development tokens need an HS256 JWT_SECRET; with a public key, tokens come from your identity provider');
    }
    return this.signer.sign({ sub: request.sub, rooms: request.rooms, scope: request.scope, name: request.name, ttlS: request.ttl });
  }
}
