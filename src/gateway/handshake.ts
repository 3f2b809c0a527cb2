import type { IncomingMessage } from 'node:http';
import { BEARER_PROTOCOL_PREFIX, PROTOCOL_VERSION } from '@herald/client/protocol';
import { requestBearerToken } from '../auth/token.verifier';

/**
 * The token, from the `bearer.<JWT>` subprotocol, `Authorization: Bearer`, or `?token=`, the
 * first of them that carries one. A source that carries two (two different bearer subprotocols,
 * the header twice, `token` twice in the query) gives null, which is refused (1008) whatever
 * the other sources hold, earlier or later: a proxy in front may have checked the other one.
 */
export function tokenOf(request: IncomingMessage): string | undefined | null {
  let bearer: string | undefined;
  for (const protocol of offeredProtocols(request.headers)) {
    if (!protocol.startsWith(BEARER_PROTOCOL_PREFIX)) continue;
    if (bearer !== undefined) return null;
    bearer = protocol;
  }
  const fromHeader = requestBearerToken(request);
  const fromQuery = queryToken(request.url);
  if (fromHeader === null || fromQuery === null) return null;
  return bearer !== undefined ? bearer.slice(BEARER_PROTOCOL_PREFIX.length) : (fromHeader ?? fromQuery);
}

/** The `token` of a URL's query: undefined when there is none, null when there are two. */
function queryToken(url: string | undefined): string | undefined | null {
  const query = url?.indexOf('?') ?? -1;
  // Most handshakes carry the token in a subprotocol and no `token` in their URL: no parse.
  if (query < 0 || !url!.includes('token', query)) return undefined;
  const tokens = new URLSearchParams(url!.slice(query + 1)).getAll('token');
  return tokens.length > 1 ? null : tokens[0];
}

/**
 * Rewrites an offered Sec-WebSocket-Protocol list without empty elements and repeats, which ws
 * refuses with a bare 400 (`herald.v1,,bearer.<JWT>`): HTTP lists may have empty elements (RFC
 * 9110, section 5.6.1), and a repeat offers nothing new. The client then gets its answer in the
 * handshake, or a close code saying why not (section 1), as for any other offer.
 */
export function tidyOfferedProtocols(headers: IncomingMessage['headers']): void {
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return;
  const { protocols, plain } = parseOffer(offered);
  if (protocols.length === 0) {
    delete headers['sec-websocket-protocol'];
    return;
  }
  // Left as it is when already written the way clients write a list (nearly every handshake): a
  // rewritten header is one more string of about the token's length, for ws to parse again.
  const tidied = plain ? offered : protocols.join(', ');
  headers['sec-websocket-protocol'] = tidied;
  lastOffer = { offered: tidied, protocols };
}

/** Up to this many offered protocols are checked for repeats by a scan, more through a Set. */
const SCANNED_PROTOCOLS = 8;

/**
 * The last offer parsed and its protocols: admission reads the token (tokenOf) from the offer the
 * handshake tidied in the same turn, so the header, about a token long, is split once, not twice.
 * Keyed by the header's text, of which the protocols are a function, so a stale entry is never read;
 * dropped at the end of the upgrade's turn (forgetOffer), so the pod keeps no client's token after it.
 */
let lastOffer: { offered: string; protocols: string[] } | undefined;

/**
 * Drops the memo of the last offer: called once its handshake's turn is over, so an offer that
 * admission never read (a handshake refused before it, or by it before reading the token) is not
 * kept, token and all, until the next handshake.
 */
export function forgetOffer(): void {
  lastOffer = undefined;
}

/** Whether the memo holds an offer (its client's token): for tests of forgetOffer's callers. */
export function holdsOffer(): boolean {
  return lastOffer !== undefined;
}

/** The protocols a handshake offers, each once, without the empty elements an HTTP list may have. */
function offeredProtocols(headers: IncomingMessage['headers']): readonly string[] {
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return [];
  return lastOffer?.offered === offered ? lastOffer.protocols : parseOffer(offered).protocols;
}

/**
 * The protocols of an offer, and whether the offer is already them joined by `, ` or `,` (`plain`,
 * which ws reads as it is), found in one pass without writing the joined list to compare.
 */
function parseOffer(offered: string): { protocols: string[]; plain: boolean } {
  const protocols: string[] = [];
  // Offers are a name or two; a hostile one (thousands of names) must not cost a scan per name.
  let seen: Set<string> | undefined;
  let joinedByCommaSpace = true;
  let joinedByComma = true;
  const elements = offered.split(',');
  for (let index = 0; index < elements.length; index++) {
    const element = elements[index];
    const protocol = element.trim();
    let repeat: boolean;
    if (seen === undefined && protocols.length < SCANNED_PROTOCOLS) repeat = protocols.includes(protocol);
    else {
      seen ??= new Set(protocols);
      repeat = seen.has(protocol);
      seen.add(protocol);
    }
    if (protocol === '' || repeat) {
      joinedByCommaSpace = joinedByComma = false;
      continue;
    }
    if (element !== protocol) joinedByComma = false;
    if (index === 0 ? element !== protocol : element.length !== protocol.length + 1 || element[0] !== ' ') joinedByCommaSpace = false;
    protocols.push(protocol);
  }
  return { protocols, plain: joinedByCommaSpace || joinedByComma };
}

/**
 * Section 1: the server speaks `herald.v1` and selects nothing else, except that a client offering
 * only its `bearer.<JWT>` (browsers must offer something to carry the token) gets that one echoed,
 * since a browser fails a handshake whose offered protocols get no answer. Anything else offered
 * (`x, bearer.<JWT>`, a thousand made-up names) is left unselected: the client sees the server
 * does not speak it, rather than being told it does.
 */
export function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(PROTOCOL_VERSION)) return PROTOCOL_VERSION;
  if (protocols.size === 1) {
    const [only] = protocols;
    if (only.startsWith(BEARER_PROTOCOL_PREFIX)) return only;
  }
  return false;
}
