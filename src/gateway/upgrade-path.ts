import type { IncomingMessage } from 'node:http';

/** A path whose URL pathname is itself: no dot segments, escapes, fragments or leading `//`. */
const PLAIN_PATH = /^\/(?!\/)[\w\-/]*$/;

/**
 * The path of an upgrade request as Nest's WsAdapter reads it to pick a gateway's server:
 * `new URL(url, 'ws://' + host + '/').pathname`, which throws when the Host makes no URL. Parsing
 * builds a URL object for every connection; a plain path (with or without a query) is its own
 * pathname, so for it only the Host needs checking, and a pod sees the same Host again and again.
 */
export class UpgradePath {
  /** The last Host that made a valid base URL. */
  private validHost: string | undefined;

  /** Throws as `new URL` does, for the same requests. */
  of(request: IncomingMessage): string {
    const url = request.url ?? '';
    const host = request.headers.host;
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (!PLAIN_PATH.test(path)) return new URL(url, `ws://${host}/`).pathname;
    if (host !== this.validHost) {
      // A query never makes the URL invalid, so only the base can: parse it alone.
      new URL(`ws://${host}/`);
      this.validHost = host;
    }
    return path;
  }
}
