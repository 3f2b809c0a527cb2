export interface DemoOptions {
  /** Serve the demo page at /demo and the SDK and widget as browser modules under /demo/assets. */
  enabled: boolean;
  /**
   * Also serve POST /demo/token, which mints a token for anyone who asks: development only,
   * never in production, even when the page itself is enabled there.
   */
  tokenEndpoint: boolean;
}

export const DEMO_OPTIONS = Symbol('DEMO_OPTIONS');
