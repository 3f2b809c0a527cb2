import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { http } from '../support/http';
import { fencedBlocks } from '../support/markdown-blocks';
import { createTestApp, type TestApp } from '../support/test-app';

const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'client.md'), 'utf8');

/** The paragraph of docs/client.md holding `text`. */
function paragraphWith(text: string): string {
  const found = guide.split(/\n\s*\n/).find((paragraph) => paragraph.includes(text));
  if (!found) throw new Error(`docs/client.md has no paragraph with ${text}`);
  return found;
}

describe('docs/client.md, read literally', () => {
  it('says the Node 20 WebSocket comes from a ws package the app installs itself', () => {
    expect(paragraphWith("(await import('ws')).default")).toContain('npm install ws');
  });

  describe('POST /demo/token', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp({ NODE_ENV: 'development', JWT_SECRET: '' });
    });
    afterAll(() => app?.close());

    /** The rows of the table of the endpoint's body fields: field name -> what the row says. */
    function documentedFields(): Map<string, string> {
      const start = guide.indexOf('`POST /demo/token` takes a JSON body');
      if (start === -1) throw new Error('docs/client.md does not describe the body of POST /demo/token');
      // The paragraph that introduces the table, then the table: its heading, its rule, its rows.
      const rows = guide.slice(start).split('\n\n')[1].split('\n').slice(2);
      return new Map(rows.map((row) => row.match(/^\| `(\w+)` \| (.*) \|$/)!.slice(1, 3) as [string, string]));
    }

    const mint = (body: unknown) => http('POST', `${app.url}/demo/token`, { body });
    const lifetimeS = (token: string) => {
      const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      return claims.exp - Math.floor(Date.now() / 1000);
    };

    it('documents every field the endpoint takes, and only those', async () => {
      const schema = (await http('GET', `${app.url}/openapi.json`)).body.components.schemas.DemoTokenRequest;
      expect([...documentedFields().keys()].sort()).toEqual(Object.keys(schema.properties).sort());
      expect(documentedFields().get('sub')).toMatch(/^required/);
      expect(schema.required).toEqual(['sub']);
      const ttl = schema.properties.ttl;
      expect(documentedFields().get('ttl')).toContain(`integer number of seconds, ${ttl.minimum}..${ttl.maximum} [\`3600\`]`);
    });

    it('mints with the documented example', async () => {
      const [example] = fencedBlocks('docs/client.md', 'API').filter((block) => block.info === 'bash' && block.code.includes('/demo/token'));
      const body = JSON.parse(example.code.match(/-d '(.*)'/)![1]);
      const minted = await mint(body);
      expect(minted.status).toBe(200);
      expect(minted.body).toEqual({ token: expect.any(String), expiresAt: expect.any(String) });
      expect(lifetimeS(minted.body.token)).toBeGreaterThan(body.ttl - 5);
    });

    it('takes ttl as an integer of seconds, 3600 when omitted, and refuses what the docs say it refuses', async () => {
      expect(documentedFields().get('ttl')).toContain('not `"1h"` nor `"3600"`');
      expect(lifetimeS((await mint({ sub: 'alice' })).body.token)).toBeGreaterThan(3595);
      for (const ttl of ['1h', '3600', 90.5, 4, 86_401, null]) {
        const refused = await mint({ sub: 'alice', ttl });
        expect(refused.status).toBe(400);
        expect(JSON.stringify(refused.body.message)).toContain('ttl');
      }
    });

    it('takes rooms as an array, not a comma-separated string', async () => {
      expect(documentedFields().get('rooms')).toMatch(/^an array \(not a comma-separated string\)/);
      expect((await mint({ sub: 'alice', rooms: ['chat:*', 'team:42'] })).status).toBe(200);
      const refused = await mint({ sub: 'alice', rooms: 'chat:*,team:42' });
      expect(refused.status).toBe(400);
      expect(JSON.stringify(refused.body.message)).toContain('rooms');
    });
  });
});
