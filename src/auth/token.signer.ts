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

  /** The token and its `exp` as the contract writes it (the same instant, not a second clock reading). */
  sign({ sub, rooms, scope, name, ttlS = 3600 }: DevTokenClaims): { token: string; expiresAt: string } {
    if (!this.available) throw new Error('No JWT_SECRET configured: tokens for an RS256/ES256 key are minted by your identity provider');
    const exp = Math.floor(Date.now() / 1000) + ttlS;
    const claims: Record<string, unknown> = { sub, exp };
    if (rooms) claims.rooms = rooms;
    if (scope) claims.scope = scope;
    if (name) claims.name = name;
    const { issuer, audience } = this.config.jwt;
    // The key comes from JwtModule's secretOrKeyProvider (AuthModule). jsonwebtoken rejects
    // `issuer: undefined`, so the options are only named when configured.
    const token = this.jwt.sign(claims, { algorithm: 'HS256', ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}) });
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }
}
