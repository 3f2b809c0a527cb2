import type { IncomingHttpHeaders } from 'node:http';
import { Injectable } from '@nestjs/common';
import type { PerMessageDeflateOptions, WebSocket } from 'ws';
import { HeraldConfig } from '../config/herald.config';
import { FrameCompression } from '../connections/prepared-frame';
import { deflateParamsOf } from '../connections/ws.internals';

/**
 * permessage-deflate, only when WS_COMPRESSION asks for it. The server always agrees
 * server_no_context_takeover, so a broadcast is compressed once for every socket that agreed
 * the same window (PreparedFrame.compressedWire) and ws never compresses anything itself.
 * What remains per socket is inflating what the client compresses (browsers compress every
 * frame): ws keeps a zlib inflate stream for such a socket, reset after each message.
 */
@Injectable()
export class CompressionNegotiation {
  /** One shared FrameCompression per agreed window (almost always just 15), not one per socket. */
  private readonly byWindowBits = new Map<number, FrameCompression>();

  constructor(private readonly config: HeraldConfig) {}

  /** ws's `perMessageDeflate` server option. */
  serverOption(): false | PerMessageDeflateOptions {
    if (!this.config.wsCompression.enabled) return false;
    return { serverNoContextTakeover: true, clientNoContextTakeover: true, concurrencyLimit: 10 };
  }

  /**
   * Keeps only the well-formed permessage-deflate offers of an upgrade's Sec-WebSocket-Extensions
   * (none: the header goes), before ws reads it. ws refuses the whole handshake with 400 when any
   * offer is malformed (an unknown parameter, a window of 16, a duplicate), where RFC 7692 has
   * the server decline the offer and connect the client without compression. Stricter than ws
   * on purpose: an offer this does not recognise only costs its client compression.
   */
  declineMalformedOffers(headers: IncomingHttpHeaders): void {
    const offered = headers['sec-websocket-extensions'];
    if (!this.config.wsCompression.enabled || offered === undefined) return;
    const acceptable = offered
      .split(',')
      .map((offer) => offer.trim())
      .filter(isWellFormedDeflateOffer);
    if (acceptable.length === 0) delete headers['sec-websocket-extensions'];
    else headers['sec-websocket-extensions'] = acceptable.join(', ');
  }

  /** How this socket gets compressed broadcasts, or undefined when it did not negotiate them. */
  compressionFor(socket: WebSocket): FrameCompression | undefined {
    if (!this.config.wsCompression.enabled) return undefined;
    const deflate = deflateParamsOf(socket);
    if (!deflate) return undefined;
    const windowBits = deflate.server_max_window_bits ?? 15;
    // zlib makes no raw deflate stream with a 256-byte window: such a client gets plain frames.
    if (windowBits < 9) return undefined;
    let compression = this.byWindowBits.get(windowBits);
    if (!compression) this.byWindowBits.set(windowBits, (compression = { fromBytes: this.config.wsCompression.minBytes, windowBits }));
    return compression;
  }
}

const WINDOW_BITS = /^(?:8|9|1[0-5])$/;

/** One offer (`permessage-deflate; param[=value]...`) as RFC 7692 section 7.1 defines its parameters, each at most once. */
function isWellFormedDeflateOffer(offer: string): boolean {
  const [name, ...params] = offer.split(';').map((part) => part.trim());
  if (name !== 'permessage-deflate') return false;
  const seen = new Set<string>();
  for (const param of params) {
    const equals = param.indexOf('=');
    const key = (equals === -1 ? param : param.slice(0, equals)).trim();
    const value = equals === -1 ? undefined : param.slice(equals + 1).trim();
    if (seen.has(key)) return false;
    seen.add(key);
    const valid =
      key === 'server_no_context_takeover' || key === 'client_no_context_takeover'
        ? value === undefined
        : key === 'server_max_window_bits'
          ? value !== undefined && WINDOW_BITS.test(value)
          : key === 'client_max_window_bits' && (value === undefined || WINDOW_BITS.test(value));
    if (!valid) return false;
  }
  return true;
}
