import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PublishClient } from '@herald/client';
import { eventually } from '../support/eventually';
import { createTestApp, type TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { createTestApp } from '../support/test-app';
import { closeEveryConnection } from './herald-server';

jest.setTimeout(30_000);

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('the demo page and <herald-bell> in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let publisher: PublishClient;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    app = await createTestApp();
    publisher = new PublishClient({ baseUrl: app.url, token: publisherToken() });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
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
  const ids = () => page.locator('herald-bell li[data-id]').evaluateAll((items) => items.map((item) => item.getAttribute('data-id')));

  it('shows every notification exactly once across a 1012 drain, newest first', async () => {
    // Pins the SDK's drain delay to half of its 2 s window, so the publishes below land while
    // the page is disconnected.
    await page.addInitScript(() => (Math.random = () => 0.5));
    const token = signToken({ sub: 'frank', iss: 'herald-tests', aud: 'herald' });
    await page.goto(`${app.url}/demo?token=${token}&rooms=public:news`);
    await page.locator('herald-bell[data-state="open"]').waitFor();
    await expect(page.locator('#user').textContent()).resolves.toBe('frank');

    await publisher.publish({ users: ['frank'], type: 'order.shipped', payload: { title: 'Order shipped', body: 'Parcel 1 left the warehouse' } });
    await eventually(async () => expect(await titles()).toEqual(['Order shipped']));

    expect(closeEveryConnection(app)).toBe(1);
    await page.locator('herald-bell[data-state="reconnecting"]').waitFor();
    await publisher.publish({ users: ['frank'], type: 'order.delivered', payload: { title: 'Order delivered' } });
    // Sent to two rooms the page is in: two frames, one entry.
    await publisher.publish({ users: ['frank'], rooms: ['public:news'], type: 'news', payload: { body: 'no title: the type stands in' } });
    expect(await titles()).toEqual(['Order shipped']);

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

  it('offers to mint a development token when opened without one', async () => {
    await page.goto(`${app.url}/demo`);
    await page.locator('#mint input[name="sub"]').fill('grace');
    await page.locator('#mint input[name="rooms"]').fill('public:news,chat:1');
    await page.locator('#mint button').click();
    await page.locator('herald-bell[data-state="open"]').waitFor();
    expect(new URL(page.url()).searchParams.get('rooms')).toBe('public:news,chat:1');
    await eventually(async () => expect(await page.locator('#rooms').textContent()).toBe('public:news, chat:1, user:grace'));
    await publisher.publish({ rooms: ['chat:1'], type: 'chat.invite', payload: { title: 'Invited to chat 1' } });
    await eventually(async () => expect(await titles()).toEqual(['Invited to chat 1']));
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
