import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { PublishClient } from '@herald/client';
import { eventually } from '../support/eventually';
import { http } from '../support/http';
import { createTestApp, type TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { closeEveryConnection } from './herald-server';
import { startOriginServer, type OriginServer } from './origin-server';

jest.setTimeout(30_000);

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
describe('the demo page and <herald-bell> in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let publisher: PublishClient;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    app = await createTestApp({ DEMO_ENABLED: 'true' });
    publisher = new PublishClient({ baseUrl: app.url, token: publisherToken() });
    browser = await launchChromium();
  });
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 900, height: 640 } });
    page.setDefaultTimeout(8_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });
  afterEach(async () => {
    await page.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const titles = () => page.locator('herald-bell li[data-id] .title').allTextContents();
  const badge = (on: Page) => on.locator('herald-bell .badge').textContent();
  const ids = () => page.locator('herald-bell li[data-id]').evaluateAll((items) => items.map((item) => item.getAttribute('data-id')));

  it('loads without a failed request, and names an icon so the browser asks for no /favicon.ico (a 404 in its console)', async () => {
    // Seen by the server: the browser's own favicon request reaches none of the page's events.
    const asked: string[] = [];
    const server = app.app.getHttpServer() as import('node:http').Server;
    const record = (request: import('node:http').IncomingMessage) => asked.push(request.url ?? '');
    server.on('request', record);
    const failed: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    });
    page.on('requestfailed', (request) => failed.push(`failed ${request.url()}`));
    await page.goto(`${app.url}/demo#token=${signToken({ sub: 'quinn', iss: 'herald-tests', aud: 'herald' })}`);
    await page.locator('herald-bell[data-state="open"]').waitFor();
    await page.waitForLoadState('networkidle');
    server.off('request', record);
    expect(failed).toEqual([]);
    expect(asked.some((path) => path.startsWith('/demo'))).toBe(true);
    expect(asked.filter((path) => path.startsWith('/favicon'))).toEqual([]);
  });

  it('shows every notification exactly once across a 1012 drain, newest first', async () => {
    // Pins the SDK's drain delay to half of its 2 s window, so the publishes below land while
    // the page is disconnected.
    await page.addInitScript(() => (Math.random = () => 0.5));
    const token = signToken({ sub: 'frank', iss: 'herald-tests', aud: 'herald' });
    await page.goto(`${app.url}/demo#token=${token}&rooms=public:news`);
    await page.locator('herald-bell[data-state="open"]').waitFor();
    await expect(page.locator('#user').textContent()).resolves.toBe('frank');

    await publisher.publish({ users: ['frank'], type: 'order.shipped', payload: { title: 'Order shipped', body: 'Parcel 1 left the warehouse' } });
    await eventually(async () => expect(await titles()).toEqual(['Order shipped']));

    // Offline until both publishes are in, so they land while the page is away whatever the
    // machine's load (the drain delay alone raced two publishes on a busy CI machine).
    await page.context().setOffline(true);
    expect(closeEveryConnection(app)).toBe(1);
    await page.locator('herald-bell[data-state="reconnecting"]').waitFor();
    await publisher.publish({ users: ['frank'], type: 'order.delivered', payload: { title: 'Order delivered' } });
    // Sent to two rooms the page is in: two frames, one entry.
    await publisher.publish({ users: ['frank'], rooms: ['public:news'], type: 'news', payload: { body: 'no title: the type stands in' } });
    expect(await titles()).toEqual(['Order shipped']);
    await page.context().setOffline(false);

    await page.locator('herald-bell[data-state="open"]').waitFor();
    await eventually(async () => expect(await titles()).toEqual(['news', 'Order delivered', 'Order shipped']));
    expect(new Set(await ids()).size).toBe(3);
    await expect(page.locator('herald-bell .badge').textContent()).resolves.toBe('3');
    await expect(page.locator('#log').textContent()).resolves.toContain('recovered 2 missed in user:frank');

    await page.locator('herald-bell button.bell').click();
    await expect(page.locator('herald-bell .badge').isHidden()).resolves.toBe(true);
    await expect(page.locator('herald-bell li').first().locator('.body').textContent()).resolves.toBe('no title: the type stands in');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo-widget.png') });
  });

  it('shows the inbox again after a reload, and follows read marks made in another page', async () => {
    const token = signToken({ sub: 'hana' });
    const demo = `${app.url}/demo#token=${token}&rooms=public:news`;
    const readCount = (on: Page) => on.locator('herald-bell li.read').count();
    const earlier = await publisher.publish({ users: ['hana'], type: 'invoice.paid', payload: { title: 'Invoice paid', body: 'Before the page opened' } });
    await page.goto(demo);
    await page.locator('herald-bell[data-state="open"]').waitFor();
    await eventually(async () => expect(await titles()).toEqual(['Invoice paid']));
    await expect(badge(page)).resolves.toBe('1');
    await publisher.publish({ users: ['hana'], type: 'order.shipped', payload: { title: 'Order shipped' } });
    // Not in the inbox: another room's notifications live as long as the page.
    await publisher.publish({ rooms: ['public:news'], type: 'news', payload: { title: 'Public news' } });
    await publisher.publish({ users: ['hana'], type: 'comment', payload: { body: 'no title' } });
    await eventually(async () => expect(await titles()).toEqual(['comment', 'Public news', 'Order shipped', 'Invoice paid']));
    await expect(badge(page)).resolves.toBe('4');

    await page.reload();
    await page.locator('herald-bell[data-state="open"]').waitFor();
    await eventually(async () => expect(await titles()).toEqual(['comment', 'Order shipped', 'Invoice paid']));
    await expect(badge(page)).resolves.toBe('3');
    expect(await ids()).toContain(earlier.id);

    const other = await browser.newPage({ viewport: { width: 900, height: 640 } });
    other.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await other.goto(demo);
      await other.locator('herald-bell[data-state="open"]').waitFor();
      await eventually(async () => expect(await badge(other)).toBe('3'));

      // Opening the list in the first page reads everything, in both pages.
      await page.locator('herald-bell button.bell').click();
      await expect(page.locator('herald-bell .badge').isHidden()).resolves.toBe(true);
      await eventually(async () => expect(await other.locator('herald-bell .badge').isHidden()).toBe(true));
      await eventually(async () => expect(await readCount(other)).toBe(3));
      await expect(page.locator('#log').textContent()).resolves.toContain('inbox: 3 marked read, 0 unread');

      await page.locator('herald-bell button.bell').click();
      await publisher.publish({ users: ['hana'], type: 'mention', payload: { title: 'You were mentioned' } });
      await eventually(async () => expect([await badge(page), await badge(other)]).toEqual(['1', '1']));
      await other.reload();
      await other.locator('herald-bell[data-state="open"]').waitFor();
      await eventually(async () => expect(await other.locator('herald-bell li[data-id]').count()).toBe(4));
      await expect(readCount(other)).resolves.toBe(3);
      await expect(badge(other)).resolves.toBe('1');

      // With the first page's list open, what arrives is read there at once, and in the other page too.
      await page.locator('herald-bell button.bell').click();
      await eventually(async () => expect(await other.locator('herald-bell .badge').isHidden()).toBe(true));
      await publisher.publish({ users: ['hana'], type: 'reply', payload: { title: 'New reply' } });
      await eventually(async () => expect(await titles()).toEqual(['New reply', 'You were mentioned', 'comment', 'Order shipped', 'Invoice paid']));
      await eventually(async () => expect(await readCount(other)).toBe(5));
      await expect(other.locator('herald-bell .badge').isHidden()).resolves.toBe(true);

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'inbox-first-page.png') });
      await other.locator('herald-bell button.bell').click();
      await other.screenshot({ path: join(ARTIFACTS, 'inbox-second-page.png') });
    } finally {
      await other.close();
    }
  });

  it('offers to mint a development token when opened without one', async () => {
    await page.goto(`${app.url}/demo`);
    await page.locator('#mint input[name="sub"]').fill('grace');
    await page.locator('#mint input[name="rooms"]').fill('public:news,chat:1');
    await page.locator('#mint button').click();
    await page.locator('herald-bell[data-state="open"]').waitFor();
    // The minted token travels in the fragment: never in a request line, a log or a Referer.
    const url = new URL(page.url());
    expect(url.search).toBe('');
    expect(new URLSearchParams(url.hash.slice(1)).get('rooms')).toBe('public:news,chat:1');
    await eventually(async () => expect(await page.locator('#rooms').textContent()).toBe('public:news, chat:1, user:grace'));
    await publisher.publish({ rooms: ['chat:1'], type: 'chat.invite', payload: { title: 'Invited to chat 1' } });
    await eventually(async () => expect(await titles()).toEqual(['Invited to chat 1']));
  });

  it("says how to get a token and send a test when the server has a JWT_SECRET and so mints none (the tour's setup)", async () => {
    const tour = await createTestApp({ NODE_ENV: 'development' });
    try {
      await page.goto(`${tour.url}/demo`);
      await expect(page.locator('#mint').isHidden()).resolves.toBe(true);
      const help = (await page.locator('#no-mint').innerText()).replace(/\s+/g, ' ');
      expect(help).toContain("npm run -s token -- --sub alice --rooms 'chat:*'");
      expect(help).toContain('DEMO_ENABLED=true');

      // Only the fragment differs: a new navigation, not a hash change in the same document.
      await page.goto('about:blank');
      await page.goto(`${tour.url}/demo#token=${signToken({ sub: 'ivy' })}`);
      await page.locator('herald-bell[data-state="open"]').waitFor();
      await expect(page.locator('#send').isHidden()).resolves.toBe(true);
      expect((await page.locator('#no-send').innerText()).replace(/\s+/g, ' ')).toContain('POST /v1/notifications');
    } finally {
      await tour.close();
    }
  });

  it('offers no send button where the publish API is not, with INTERNAL_PORT set, and says where it is', async () => {
    const split = await createTestApp({ DEMO_ENABLED: 'true', INTERNAL_PORT: '0' });
    try {
      await page.goto(`${split.url}/demo#token=${signToken({ sub: 'ines' })}`);
      await page.locator('herald-bell[data-state="open"]').waitFor();
      await expect(page.locator('#send').isHidden()).resolves.toBe(true);
      await expect(page.locator('#no-send').isHidden()).resolves.toBe(true);
      expect((await page.locator('#no-send-here').innerText()).replace(/\s+/g, ' ')).toContain('The publish API answers on INTERNAL_PORT');
    } finally {
      await split.close();
    }
  });

  it('says why it cannot connect when the link names a room the client refuses, instead of a blank page', async () => {
    await page.goto(`${app.url}/demo#token=${signToken({ sub: 'rene' })}&rooms=public:%3Cb%3Ex`);
    await eventually(async () => expect((await page.locator('#log li').allInnerTexts()).join('\n')).toMatch(/cannot connect: .*invalid room name "public:<b>x"/));
    expect(await page.locator('#state').textContent()).toBe('not connected');
  });

  it("says which origin to add when ALLOWED_ORIGINS leaves out the demo's own, and publishes nothing while not connected", async () => {
    const guarded = await createTestApp({ DEMO_ENABLED: 'true', ALLOWED_ORIGINS: 'https://app.example.com' });
    try {
      const logLines = async () => (await page.locator('#log li').allInnerTexts()).join('\n');
      await page.goto(`${guarded.url}/demo#token=${signToken({ sub: 'olga' })}`);
      const origin = new URL(guarded.url).origin;
      await eventually(async () => expect(await logLines()).toContain(`this page's origin, ${origin}, is not in ALLOWED_ORIGINS`));
      await page.locator('#send button').click();
      await eventually(async () => expect(await logLines()).toContain('could not publish: not connected yet'));
    } finally {
      await guarded.close();
    }
  });
});

describe('the demo when disabled', () => {
  it('serves no /demo routes', async () => {
    const app = await createTestApp({ DEMO_ENABLED: 'false' });
    try {
      expect((await fetch(`${app.url}/demo`)).status).toBe(404);
      expect((await fetch(`${app.url}/demo/token`, { method: 'POST' })).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});

describe('the inbox from a page of another origin', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let listed: OriginServer;
  let unlisted: OriginServer;
  let publisher: PublishClient;

  beforeAll(async () => {
    listed = await startOriginServer();
    unlisted = await startOriginServer();
    app = await createTestApp({ ALLOWED_ORIGINS: `https://app.example.com, ${listed.url}` });
    publisher = new PublishClient({ baseUrl: app.url, token: publisherToken() });
    browser = await launchChromium();
  });
  beforeEach(async () => {
    page = await browser.newPage();
    page.setDefaultTimeout(8_000);
  });
  afterEach(() => page.close());
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await listed?.close();
    await unlisted?.close();
  });

  const unreadOf = async (token: string) => (await http('GET', `${app.url}/v1/inbox`, { token })).body.unread;

  it('lets a listed origin read the inbox and mark items read with the SDK', async () => {
    const token = signToken({ sub: 'pia' });
    const published = [(await publisher.publish({ users: ['pia'], type: 't', payload: { title: 'one' } })).id];
    published.unshift((await publisher.publish({ users: ['pia'], type: 't', payload: { title: 'two' } })).id);
    await page.goto(listed.url);
    await page.waitForFunction(() => 'heraldSdk' in globalThis);
    const outcome = await page.evaluate(
      async ({ wsUrl, token }) => {
        const client = (globalThis as any).heraldSdk.connect(wsUrl, { getToken: () => token });
        try {
          await client.whenOpen();
          const listedPage = await client.inbox.list();
          const marked = await client.inbox.markRead([listedPage.items[0].id]);
          const { document, location } = globalThis as any;
          document.body.textContent = `${location.origin} listed ${listedPage.items.length} items (${listedPage.unread} unread), marked one read: ${marked.unread} unread`;
          return { ids: listedPage.items.map((item: { id: string }) => item.id), unread: listedPage.unread, after: marked.unread, tracked: client.inbox.unread };
        } finally {
          client.close();
        }
      },
      { wsUrl: app.wsUrl, token },
    );
    expect(outcome).toEqual({ ids: published, unread: 2, after: 1, tracked: 1 });
    await expect(unreadOf(token)).resolves.toBe(1);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'inbox-listed-origin.png') });
  });

  it('grants the listed origin GET and POST with authorization and content-type, and an unlisted one nothing', async () => {
    const token = signToken({ sub: 'pia' });
    const preflight = (origin: string) =>
      fetch(`${app.url}/v1/inbox/read`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const granted = await preflight(listed.url);
    expect(granted.status).toBeGreaterThanOrEqual(200);
    expect(granted.status).toBeLessThan(300);
    expect(granted.headers.get('access-control-allow-origin')).toBe(listed.url);
    expect(granted.headers.get('access-control-allow-methods')?.toUpperCase().split(/\s*,\s*/)).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(granted.headers.get('access-control-allow-headers')?.toLowerCase().split(/\s*,\s*/)).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    const answer = await http('GET', `${app.url}/v1/inbox`, { token, headers: { origin: listed.url } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe(listed.url);

    // The answer varies by origin, so no shared cache may hand one origin's grant to another.
    expect(answer.headers.get('vary')).toMatch(/\borigin\b/i);

    // Without Access-Control-Allow-Origin a browser grants nothing, whatever else is sent.
    const refused = await preflight(unlisted.url);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const plain = await http('GET', `${app.url}/v1/inbox`, { token, headers: { origin: unlisted.url } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keeps an unlisted origin out: its requests fail as CORS errors and change nothing', async () => {
    const token = signToken({ sub: 'quinn' });
    await publisher.publish({ users: ['quinn'], type: 't', payload: { title: 'secret' } });
    await page.goto(unlisted.url);
    const outcome = await page.evaluate(
      async ({ httpUrl, token }) => {
        const attempt = async (path: string, init: RequestInit) => {
          try {
            const response = await fetch(httpUrl + path, init);
            return `answered ${response.status}`;
          } catch (error) {
            return `${(error as Error).name}: ${(error as Error).message}`;
          }
        };
        return {
          list: await attempt('/v1/inbox', { headers: { authorization: `Bearer ${token}` } }),
          markRead: await attempt('/v1/inbox/read', {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ all: true }),
          }),
        };
      },
      { httpUrl: app.url, token },
    );
    expect(outcome).toEqual({ list: 'TypeError: Failed to fetch', markRead: 'TypeError: Failed to fetch' });
    await expect(unreadOf(token)).resolves.toBe(1);
  });
});
