import { jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { eventually } from '../support/eventually';
import { createTestApp, type TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';

jest.setTimeout(30_000);

describe('the demo page behind ALLOWED_ORIGINS', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    app = await createTestApp({ DEMO_ENABLED: 'true', ALLOWED_ORIGINS: 'https://app.example.com' });
    browser = await launchChromium();
  });
  beforeEach(async () => {
    page = await browser.newPage();
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

  const logLines = () => page.locator('#log li').allInnerTexts();

  it('says which origin to add when its own is not allowed, and publishes nothing while not connected', async () => {
    await page.goto(`${app.url}/demo#token=${signToken({ sub: 'olga' })}`);
    const origin = new URL(app.url).origin;
    await eventually(async () => expect((await logLines()).join('\n')).toContain(`this page's origin, ${origin}, is not in ALLOWED_ORIGINS`));
    await page.locator('#send button').click();
    await eventually(async () => expect((await logLines()).join('\n')).toContain('could not publish: not connected yet'));
  });
});
