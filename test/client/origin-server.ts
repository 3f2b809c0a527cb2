import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

export interface OriginServer {
  /** `http://127.0.0.1:<port>`: an origin of its own. */
  url: string;
  close(): Promise<void>;
}

/**
 * A page origin apart from Herald, the way an app embeds the SDK: `/sdk/<file>.js` serves the
 * built @herald/client modules, every other path an empty page that puts `connect` on
 * `window.heraldSdk` (`/strict-styles` and `/trusted-types` with a Content-Security-Policy: see POLICIES).
 */
export async function startOriginServer(): Promise<OriginServer> {
  const sdkDir = join(dirname(require.resolve('@herald/client/package.json')), 'dist');
  const server: Server = createServer((request, response) => {
    const asset = /^\/sdk\/([a-z0-9][a-z0-9.-]*\.js)$/.exec(request.url ?? '');
    if (!asset) {
      // `/strict-styles`: a page whose policy allows no inline style, as many apps run.
      const policy = POLICIES[request.url ?? ''] === undefined ? {} : { 'content-security-policy': POLICIES[request.url!] };
      response.writeHead(200, { 'content-type': 'text/html', ...policy }).end(PAGE);
      return;
    }
    readFile(join(sdkDir, asset[1]), 'utf8').then(
      (source) => response.writeHead(200, { 'content-type': 'text/javascript' }).end(source),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** Pages whose Content-Security-Policy an app may run with: no inline style; Trusted Types enforced. */
const POLICIES: Record<string, string> = {
  '/strict-styles': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self'; connect-src *",
  '/trusted-types': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self'; connect-src *; require-trusted-types-for 'script'",
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>an app on another origin</title>
<script type="module">import { connect } from '/sdk/index.js'; window.heraldSdk = { connect };</script>`;
