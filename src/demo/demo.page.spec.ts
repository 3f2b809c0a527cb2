import { renderDemoPage } from './demo.page';

describe('the demo page', () => {
  const page = (production: boolean) => renderDemoPage({ wsPath: '/ws', tokenEndpoint: false, publishHere: true, production });

  it('points a development server without a token form at DEMO_ENABLED', () => {
    expect(page(false)).toContain('This server has a configured signing key');
    expect(page(false)).toContain('Or start Herald with <code>DEMO_ENABLED=true</code>');
    expect(page(false)).toContain('for a button here that does it');
  });

  it('tells a production server why it mints nothing, without advice DEMO_ENABLED cannot follow there', () => {
    expect(page(true)).toContain('This server runs with <code>NODE_ENV=production</code>, so it does not mint tokens');
    expect(page(true)).not.toContain('DEMO_ENABLED=true');
  });
});
