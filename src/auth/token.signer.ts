import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { HeraldConfig } from '../config/herald.config';

export interface DevTokenClaims {
  sub: string;
  rooms?: string[];
  scope?: string;
  name?: string;
  /** Lifetime in seconds. */
  ttlS?: number;
}

/** Mints HS256 tokens with the configured (or ephemeral development) secret, for /demo and tests. */
@Injectable()
export class TokenSigner {
  constructor(
    private readonly jwt: JwtService,
    private readonly config: HeraldConfig,
  ) {}

  get available(): boolean {
    return this.config.jwt.secret !== undefined;
  }

  sign({ sub, rooms, scope, name, ttlS = 3600 }: DevTokenClaims): string {
    const secret = this.config.jwt.secret;
    if (!secret) throw new Error('No JWT_SECRET configured: tokens for an RS256/ES256 key are minted by your identity provider');
    const claims: Record<string, unknown> = { sub };
    if (rooms) claims.rooms = rooms;
    if (scope) claims.scope = scope;
    if (name) claims.name = name;
    const { issuer, audience } = this.config.jwt;
    // jsonwebtoken rejects `issuer: undefined`, so the options are only named when configured.
    return this.jwt.sign(claims, {
      secret,
      algorithm: 'HS256',
      expiresIn: ttlS,
      ...(issuer ? { issuer } : {}),
      ...(audience ? { audience } : {}),
    });
  }
}
