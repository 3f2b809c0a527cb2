import type { IncomingMessage } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { USER_ID_PATTERN } from '@herald/client/protocol';
import { HeraldConfig } from '../config/herald.config';
import { Principal } from './principal';

export type TokenRejection = 'unauthorized' | 'token_expired';
export type Verification = { ok: true; principal: Principal } | { ok: false; reason: TokenRejection };

/**
 * The latest `exp` whose instant RFC 3339 can write (9999-12-31T23:59:59Z): `welcome.expiresAt`
 * has a four-digit year. A later one was written in ISO 8601's extended form
 * (`+275760-09-13T00:00:00.000Z`), which strict clients' date parsers refuse.
 */
export const LATEST_EXP_S = Date.UTC(9999, 11, 31, 23, 59, 59) / 1000;

interface Claims extends Record<string, unknown> {
  sub?: unknown;
  exp?: unknown;
  iat?: unknown;
  name?: unknown;
  rooms?: unknown;
  scope?: unknown;
  scp?: unknown;
}

/** What jsonwebtoken checks on every token; TokenVerifier.verify judges `exp` itself. */
const VERIFY_OPTIONS = { complete: true, ignoreExpiration: true } as const;

/**
 * The longest token verified: no handshake or HTTP request can carry a longer one (Node refuses,
 * 431, a request head over 16 KB), so only a `refresh` frame could, and decoding and verifying a
 * 53 KB one cost the pod a millisecond a frame, within the rate limit.
 */
export const TOKEN_MAX_CHARS = 16_384;

/** Most tokens `verifyRepeated` remembers: a pod's publishers are a handful of services. */
const REMEMBERED_TOKENS = 256;

/** Turns a JWT into a Principal, or says why it cannot (section 1 of the contract). */
@Injectable()
export class TokenVerifier {
  /** Room patterns and scopes, one copy per distinct list (see ListInterner). */
  private readonly lists = new ListInterner(INTERNED_LISTS);
  /** Tokens `verifyRepeated` verified, oldest first. Only accepted tokens are kept. */
  private readonly remembered = new Map<string, Principal>();
  private readonly logger = new Logger(TokenVerifier.name);

  constructor(
    private readonly jwt: JwtService,
    private readonly config: HeraldConfig,
  ) {}

  verify(token: string | undefined | null): Verification {
    if (!token) return this.refused('unauthorized', 'no token');
    if (token.length > TOKEN_MAX_CHARS) return this.refused('unauthorized', `longer than ${TOKEN_MAX_CHARS} characters`);
    let verified: { header: { crit?: unknown }; payload: Claims };
    try {
      // Algorithms, issuer, audience and the key come from JwtModule's options (AuthModule).
      // `exp` is judged below, after everything else: jsonwebtoken judges it before the issuer
      // and the audience, and a token that is expired and would be refused anyway (another
      // issuer's, a `sub` Herald cannot name a room after) is `unauthorized`, not a
      // token_expired that tells the client to refresh it.
      verified = this.jwt.verify<{ header: { crit?: unknown }; payload: Claims }>(token, VERIFY_OPTIONS);
    } catch (error) {
      // jsonwebtoken's words (`invalid signature`, `jwt audience invalid. expected: ...`) name
      // what failed and what this pod expects, never the token's content.
      return this.refused('unauthorized', error instanceof Error ? error.message : 'not a valid JWT');
    }
    // RFC 7515 4.1.11: a token whose `crit` names extensions the recipient does not understand is
    // invalid, and Herald understands none (jsonwebtoken ignores `crit`).
    if (verified.header.crit !== undefined) return this.refused('unauthorized', 'its header names crit extensions');
    const principal = this.toPrincipal(verified.payload);
    if (!principal) return this.refused('unauthorized', 'its claims are not what Herald reads (sub, exp, rooms, scope, name: docs/protocol.md)');
    // To the millisecond, as the connection judges it: jsonwebtoken counts whole seconds (an
    // `exp` of T.5 passed at T.5, yet it accepted the token until T+1).
    if (isPast(principal.expiresAtMs)) return this.refused('token_expired', 'expired');
    return { ok: true, principal };
  }

  /**
   * A refusal, and why at debug level: the client is only told `unauthorized` (or the HTTP 401),
   * so a pod whose clients sign with another secret, issuer or audience said nothing. Debug only:
   * anyone can send bad tokens.
   */
  private refused(reason: TokenRejection, why: string): Verification {
    this.logger.debug({ message: 'Token refused', reason, why });
    return { ok: false, reason };
  }

  /**
   * `verify` for callers that present the same token again and again (services publishing
   * over HTTP): the signature, algorithm, issuer, audience and claims of a token cannot change,
   * so a token accepted before is accepted again without them, until its `exp` passes, judged
   * as `verify` judges it. The HMAC and two JSON parses were about 7% of a publish's CPU.
   */
  verifyRepeated(token: string | undefined | null): Verification {
    if (!token) return this.verify(token);
    const known = this.remembered.get(token);
    if (known) {
      if (!isPast(known.expiresAtMs)) return { ok: true, principal: known };
      this.remembered.delete(token);
      return { ok: false, reason: 'token_expired' };
    }
    const verification = this.verify(token);
    if (verification.ok) {
      if (this.remembered.size >= REMEMBERED_TOKENS) this.remembered.delete(this.remembered.keys().next().value!);
      this.remembered.set(token, verification.principal);
    }
    return verification;
  }

  private toPrincipal(claims: Claims): Principal | undefined {
    const { sub, exp, iat, name, rooms } = claims;
    // The user id names the personal room, so it must make a valid room name.
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) return undefined;
    if (exp !== undefined && (typeof exp !== 'number' || exp > LATEST_EXP_S)) return undefined;
    if (exp === undefined && this.config.isProduction) return undefined;
    // A NumericDate (RFC 7519) like `exp`, which jsonwebtoken checks; it lets any `iat` through.
    if (iat !== undefined && typeof iat !== 'number') return undefined;
    if (rooms !== undefined && !(Array.isArray(rooms) && rooms.every((room) => typeof room === 'string'))) return undefined;
    return {
      user: sub,
      name: typeof name === 'string' ? displayName(name) : undefined,
      roomPatterns: rooms === undefined ? EMPTY_LIST : this.lists.intern(rooms as string[]),
      scopes: this.lists.intern(scopesOf(claims)),
      expiresAtMs: typeof exp === 'number' ? exp * 1000 : null,
      // Held per connection for the whole session, so only when the join proxy will send them.
      ...(this.config.joinProxy ? { claims } : {}),
    };
  }
}

const EMPTY_LIST: readonly string[] = [];

/**
 * The most characters of a token's `name` Herald keeps, and the demo's token endpoint takes.
 * It is copied into every chat message its user sends and kept in room history: a 45,000
 * character name made each one-character message 45 KB for every member.
 */
export const DISPLAY_NAME_MAX_CHARS = 100;

/** `name` well-formed and cut to DISPLAY_NAME_MAX_CHARS characters (code points: a pair of surrogates is not split). */
function displayName(name: string): string {
  // A lone surrogate becomes U+FFFD here, once, rather than in every member's decoder (Rust's
  // serde_json refuses one): the name goes out with every chat message, as its text does, which
  // is refused with one (MessageDto).
  const wellFormed = name.toWellFormed();
  if (wellFormed.length <= DISPLAY_NAME_MAX_CHARS) return wellFormed;
  return [...wellFormed.slice(0, 2 * DISPLAY_NAME_MAX_CHARS)].slice(0, DISPLAY_NAME_MAX_CHARS).join('');
}

/** Most distinct claim lists kept for sharing; more are still accepted, just not shared. */
const INTERNED_LISTS = 1000;

/**
 * The longest list, as its JSON text, kept for sharing: role lists many connections share are a
 * few patterns. A longer one is held by its connections alone and goes with them: kept, 1,000
 * tokens with a different 40 KB `rooms` list each (through `refresh`) held 150 MB of a pod's heap
 * after every connection had closed.
 */
export const INTERNED_LIST_MAX_CHARS = 2048;

/**
 * One shared, frozen copy of each distinct list of strings. A principal lives as long as its
 * connection, and its `rooms` claim is usually one of a few role lists: tens of thousands of
 * idle connections would otherwise each hold an array and its strings (about 100 bytes). Kept
 * for the pod's life, so bounded: INTERNED_LISTS lists of INTERNED_LIST_MAX_CHARS at most.
 */
class ListInterner {
  private readonly lists = new Map<string, readonly string[]>();

  constructor(private readonly capacity: number) {}

  /** The list handed out last: connections arrive in bursts of one role, so most match it. */
  private last: readonly string[] = EMPTY_LIST;

  intern(list: readonly string[]): readonly string[] {
    if (list.length === 0) return EMPTY_LIST;
    // Compared in place first: no key is written for a list like the last one.
    if (sameItems(list, this.last)) return this.last;
    const key = JSON.stringify(list);
    let shared = this.lists.get(key);
    if (!shared) {
      shared = Object.freeze([...list]);
      if (this.lists.size < this.capacity && key.length <= INTERNED_LIST_MAX_CHARS) this.lists.set(key, shared);
    }
    this.last = shared;
    return shared;
  }
}

function sameItems(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/**
 * The scopes of `scope` and `scp` together. Either names them (issuers differ); taking `scope`
 * whenever present, one of `""` hid every scope its `scp` granted.
 */
function scopesOf(claims: Claims): readonly string[] {
  const scope = parseScopes(claims.scope);
  const scp = parseScopes(claims.scp);
  if (scp.length === 0) return scope;
  return scope.length === 0 ? scp : [...new Set([...scope, ...scp])];
}

function parseScopes(scope: unknown): readonly string[] {
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scope)) return scope.filter((entry): entry is string => typeof entry === 'string');
  // Most tokens carry no scope or rooms: one shared empty list for all of them.
  return EMPTY_LIST;
}

/**
 * The bearer token of a request's Authorization header: undefined when there is none, null when
 * the header comes more than once (an ambiguous token: refuse). Node keeps the first, a proxy in
 * front may have checked the last, and a request that means two things is refused rather than
 * guessed at.
 */
export function requestBearerToken(request: Pick<IncomingMessage, 'headers' | 'rawHeaders'>): string | undefined | null {
  const raw = request.rawHeaders;
  let seen = 0;
  for (let index = 0; index < raw.length; index += 2) {
    if (raw[index].length === AUTHORIZATION.length && raw[index].toLowerCase() === AUTHORIZATION && ++seen > 1) return null;
  }
  return bearerToken(request.headers.authorization);
}

const AUTHORIZATION = 'authorization';

function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

/** Whether an `exp` (ms, null for none) has passed, to the millisecond, as a connection's expiry counts it. */
function isPast(expiresAtMs: number | null): boolean {
  return expiresAtMs !== null && expiresAtMs <= Date.now();
}
