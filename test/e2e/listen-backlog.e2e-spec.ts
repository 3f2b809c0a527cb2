import { Server } from 'node:net';
import { createTestApp } from '../support/test-app';

/**
 * LISTEN_BACKLOG reaches the listen of each port Herald opens. Node's default (511) made the
 * kernel drop connections in a reconnect storm; what the kernel then keeps is its own cap
 * (net.core.somaxconn), which no test can read portably, so this checks what Herald asks for.
 */
describe('LISTEN_BACKLOG', () => {
  afterEach(() => jest.restoreAllMocks());

  /** The backlog of every listen Herald made while `start` ran. */
  async function backlogsOf(start: () => Promise<unknown>): Promise<unknown[]> {
    const listen = jest.spyOn(Server.prototype, 'listen');
    await start();
    return listen.mock.calls.map(([options]) => (typeof options === 'object' && options !== null ? (options as { backlog?: number }).backlog : undefined));
  }

  it('is 4096 by default on the application port', async () => {
    let app: Awaited<ReturnType<typeof createTestApp>> | undefined;
    const backlogs = await backlogsOf(async () => (app = await createTestApp()));
    try {
      expect(backlogs).toEqual([4096]);
    } finally {
      await app?.close();
    }
  });

  it('applies a configured value to the application port and to INTERNAL_PORT', async () => {
    let app: Awaited<ReturnType<typeof createTestApp>> | undefined;
    const backlogs = await backlogsOf(async () => (app = await createTestApp({ LISTEN_BACKLOG: '77', INTERNAL_PORT: '0' })));
    try {
      expect(backlogs).toEqual([77, 77]);
      // Both ports answer: the option changed nothing else about listening.
      expect((await fetch(`${app!.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${app!.internalUrl}/metrics`)).status).toBe(200);
    } finally {
      await app?.close();
    }
  });
});
