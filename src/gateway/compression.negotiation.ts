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
