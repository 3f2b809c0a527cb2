import type { IncomingMessage } from 'node:http';
import { BEARER_PROTOCOL_PREFIX, PROTOCOL_VERSION } from '@herald/client/protocol';
import { bearerToken } from '../auth/token.verifier';

/** The token, from the `bearer.<JWT>` subprotocol, `Authorization: Bearer`, or `?token=`. */
export function tokenOf(request: IncomingMessage): string | undefined {
  const offered = request.headers['sec-websocket-protocol'];
  if (offered) {
    const bearer = offered
      .split(',')
      .map((protocol) => protocol.trim())
      .find((protocol) => protocol.startsWith(BEARER_PROTOCOL_PREFIX));
    if (bearer) return bearer.slice(BEARER_PROTOCOL_PREFIX.length);
  }
  const fromHeader = bearerToken(request.headers.authorization);
  if (fromHeader) return fromHeader;
  const query = request.url?.indexOf('?') ?? -1;
  return query >= 0 ? (new URLSearchParams(request.url!.slice(query + 1)).get('token') ?? undefined) : undefined;
}

/** Selects `herald.v1` when offered; browsers fail a handshake whose offered protocols get no answer. */
export function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(PROTOCOL_VERSION)) return PROTOCOL_VERSION;
  for (const protocol of protocols) if (!protocol.startsWith(BEARER_PROTOCOL_PREFIX)) return protocol;
  return protocols.values().next().value ?? false;
}
