import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import { HeraldConfig } from '../config/herald.config';

/**
 * The verification keys, imported once as KeyObjects: jsonwebtoken re-imports a string secret
 * on every call, which costs about twenty times more per verification (see docs/benchmarks.md).
 */
export class JwtKeys {
  readonly algorithms: ('HS256' | 'RS256' | 'ES256')[];

  private constructor(
    readonly secret: KeyObject | undefined,
    readonly publicKey: KeyObject | undefined,
  ) {
    this.algorithms = [...(secret ? (['HS256'] as const) : []), ...(publicKey ? (['RS256', 'ES256'] as const) : [])];
  }

  static from(config: HeraldConfig): JwtKeys {
    const { secret, publicKey } = config.jwt;
    return new JwtKeys(
      secret ? createSecretKey(Buffer.from(secret, 'utf8')) : undefined,
      publicKey ? createPublicKey(publicKey) : undefined,
    );
  }

  /** The key matching the token's `alg` header; jsonwebtoken then enforces `algorithms`. */
  forToken(token: string): KeyObject {
    if (!this.secret || !this.publicKey) return (this.secret ?? this.publicKey)!;
    return headerAlgorithm(token) === 'HS256' ? this.secret : this.publicKey;
  }
}

function headerAlgorithm(token: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' ? header.alg : undefined;
  } catch {
    return undefined; // a malformed header fails verification right after, with the right error
  }
}
