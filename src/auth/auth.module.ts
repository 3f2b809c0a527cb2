import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule, JwtSecretRequestType } from '@nestjs/jwt';
import { HeraldConfig } from '../config/herald.config';
import { JwtKeys } from './jwt-keys';
import { HttpTokenGuard } from './scopes.guard';
import { TokenSigner } from './token.signer';
import { TokenVerifier } from './token.verifier';

@Global()
@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [HeraldConfig],
      useFactory: (config: HeraldConfig) => {
        const keys = JwtKeys.from(config);
        return {
          verifyOptions: { algorithms: keys.algorithms, issuer: config.jwt.issuer, audience: config.jwt.audience },
          secretOrKeyProvider: (type: JwtSecretRequestType, tokenOrPayload: string | object | Buffer) =>
            type === JwtSecretRequestType.SIGN ? (config.jwt.secret ?? '') : keys.forToken(String(tokenOrPayload)),
        };
      },
    }),
  ],
  providers: [TokenVerifier, TokenSigner, { provide: APP_GUARD, useClass: HttpTokenGuard }],
  exports: [TokenVerifier, TokenSigner],
})
export class AuthModule {}
