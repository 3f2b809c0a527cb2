import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
