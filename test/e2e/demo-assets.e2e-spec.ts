import { Logger } from '@nestjs/common';
import { createTestApp, TestApp } from '../support/test-app';

describe('demo assets', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ DEMO_ENABLED: 'true' })));
  afterAll(() => app.close());
  afterEach(() => jest.restoreAllMocks());

  it('serves the client modules as JavaScript', async () => {
    const response = await fetch(`${app.url}/demo/assets/index.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers a missing asset with a JSON 404 that neither logs nor repeats the name, however often it is asked for', async () => {
    const warned = [jest.spyOn(Logger, 'warn'), jest.spyOn(Logger.prototype, 'warn')];
    for (const name of ['nope.js', 'NOPE', `${'a'.repeat(10_000)}.js`, `${'a'.repeat(10_000)}.txt`]) {
      const response = await fetch(`${app.url}/demo/assets/${name}`);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({ statusCode: 404, error: 'Not Found' });
      expect(text.length).toBeLessThan(200);
    }
    for (const warn of warned) expect(warn).not.toHaveBeenCalled();
  });
});
