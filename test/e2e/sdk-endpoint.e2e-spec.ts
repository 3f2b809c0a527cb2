import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createTestApp, TestApp } from '../support/test-app';

const clientDir = dirname(require.resolve('@herald/client/package.json'));
const { version } = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as { version: string };

describe('GET /sdk/herald.js', () => {
  describe('with ALLOWED_ORIGINS', () => {
    let app: TestApp;
    beforeAll(async () => (app = await createTestApp({ ALLOWED_ORIGINS: 'https://app.example.com' })));
    afterAll(() => app.close());

    it('is the bundled SDK as JavaScript, with CORS for the allowed origin only', async () => {
      const allowed = await fetch(`${app.url}/sdk/herald.js`, { headers: { origin: 'https://app.example.com' } });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(allowed.headers.get('x-content-type-options')).toBe('nosniff');
      const source = await allowed.text();
      expect(source).toBe(readFileSync(join(clientDir, 'dist', 'herald.js'), 'utf8'));
      // One module: nothing left to resolve, and what a page needs is exported.
      expect(source).not.toMatch(/^\s*import\s/m);
      expect(source).toMatch(/export\s*\{[^}]*\bconnect\b/);
      expect(source).toContain('customElements.define');

      const other = await fetch(`${app.url}/sdk/herald.js`, { headers: { origin: 'https://evil.example.net' } });
      expect(other.status).toBe(200);
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('is cacheable for a year under its version, briefly without, and revalidates by ETag', async () => {
      const versioned = await fetch(`${app.url}/sdk/herald.js?v=${version}`);
      expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const unversioned = await fetch(`${app.url}/sdk/herald.js`);
      expect(unversioned.headers.get('cache-control')).toBe('public, max-age=300, must-revalidate');
      const stale = await fetch(`${app.url}/sdk/herald.js?v=0.0.0-old`);
      expect(stale.headers.get('cache-control')).toBe('public, max-age=300, must-revalidate');

      const etag = unversioned.headers.get('etag');
      expect(etag).toMatch(new RegExp(`^"${version.replace(/\./g, '\\.')}-[\\w-]+"$`));
      expect(versioned.headers.get('etag')).toBe(etag);
      const revalidated = await fetch(`${app.url}/sdk/herald.js`, { headers: { 'if-none-match': etag! } });
      expect(revalidated.status).toBe(304);
      expect(await revalidated.text()).toBe('');
      // Compared weakly, in a list, or as `*` (RFC 9110): a proxy that compresses makes the tag weak.
      for (const header of [`W/${etag}`, `"other", ${etag}`, '*']) {
        expect((await fetch(`${app.url}/sdk/herald.js`, { headers: { 'if-none-match': header } })).status).toBe(304);
      }
      expect((await fetch(`${app.url}/sdk/herald.js`, { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    });
  });

  it('is sent compressed as the client accepts (brotli first, then gzip), each coding with its own ETag, and as it is otherwise', async () => {
    const app = await createTestApp();
    /** The raw answer, undecoded (fetch would decode it and ask for its own codings). */
    const raw = (headers: Record<string, string>) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
        get(`${app.url}/sdk/herald.js`, { headers }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
        }).on('error', reject);
      });
    try {
      const source = readFileSync(join(clientDir, 'dist', 'herald.js'));
      const br = await raw({ 'accept-encoding': 'gzip, deflate, br' });
      expect(br.headers).toMatchObject({ 'content-encoding': 'br', vary: 'Accept-Encoding' });
      expect(brotliDecompressSync(br.body)).toEqual(source);
      expect(br.body.length).toBeLessThan(source.length / 2);
      const gz = await raw({ 'accept-encoding': 'gzip;q=1, br;q=0' });
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gz.body)).toEqual(source);
      const plainHeaders: Record<string, string>[] = [{}, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'deflate' }, { 'accept-encoding': '*;q=0' }];
      for (const headers of plainHeaders) {
        const plain = await raw(headers);
        expect(plain.headers['content-encoding']).toBeUndefined();
        expect(plain.body).toEqual(source);
      }
      expect((await raw({ 'accept-encoding': '*' })).headers['content-encoding']).toBe('br');
      // The client's preference between acceptable codings decides; codings are case-insensitive.
      expect((await raw({ 'accept-encoding': 'br;q=0.5, gzip' })).headers['content-encoding']).toBe('gzip');
      expect((await raw({ 'accept-encoding': 'GZIP' })).headers['content-encoding']).toBe('gzip');
      // Three representations, three tags; each revalidates as itself.
      const plain = await raw({});
      const tags = [br, gz, plain].map((answer) => answer.headers.etag);
      expect(new Set(tags).size).toBe(3);
      expect((await raw({ 'accept-encoding': 'br', 'if-none-match': String(br.headers.etag) })).status).toBe(304);
      expect((await raw({ 'if-none-match': String(plain.headers.etag) })).status).toBe(304);
    } finally {
      await app.close();
    }
  });

  it('lets any origin load it when ALLOWED_ORIGINS is unset, as any origin may then connect', async () => {
    const app = await createTestApp({ NODE_ENV: 'production' });
    try {
      const response = await fetch(`${app.url}/sdk/herald.js`, { headers: { origin: 'https://anywhere.example.org' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
    } finally {
      await app.close();
    }
  });

  it('is not served on the internal port', async () => {
    const app = await createTestApp({ INTERNAL_PORT: '0' });
    try {
      expect((await fetch(`${app.internalUrl}/sdk/herald.js`)).status).toBe(404);
      expect((await fetch(`${app.url}/sdk/herald.js`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
