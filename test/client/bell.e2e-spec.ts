import { jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { eventually } from '../support/eventually';
import { startOriginServer, type OriginServer } from './origin-server';

jest.setTimeout(20_000);

/**
 * The real SDK and <herald-bell> in the page; only the network is fake: a WebSocket the test
 * pushes frames through and a fetch that plays queued answers, so every edge of the bell's
 * inbox handling can be staged exactly.
 */
const HARNESS = `
import { connect } from '/sdk/index.js';
import { defineHeraldBell } from '/sdk/herald-bell.element.js';

defineHeraldBell();
const answers = { list: [], read: [] };
const requests = [];
const errors = [];
let socket = null;
let seq = 0;

class FakeSocket {
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  constructor() { socket = this; }
  /** Answers joins at once, as a server does: the SDK holds a room's frames until its join is answered. */
  send(text) {
    const frame = JSON.parse(text);
    if (frame.event !== 'join') return;
    const since = frame.data.since === undefined ? {} : { recovered: true, missed: 0 };
    queueMicrotask(() => socket === this && this.onmessage({ data: JSON.stringify({ event: 'joined', id: frame.id, data: { room: frame.data.room, seq: seq ? seqText(seq) : null, ...since } }) }));
  }
  close() {}
}

async function fakeFetch(input, init) {
  const url = new URL(input);
  requests.push({ method: init.method, path: url.pathname + url.search, body: init.body ? JSON.parse(init.body) : undefined });
  const answer = (url.pathname === '/v1/inbox/read' ? answers.read : answers.list).shift()
    ?? { status: 404, body: { statusCode: 404, message: 'Cannot ' + init.method + ' ' + url.pathname, error: 'Not Found' } };
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
}

/** Fixed width, as a server's seqs within an epoch, and after every listed item's (\`0…\`): the SDK compares them as strings. */
const seqText = (n) => '1' + String(n).padStart(5, '0');

function push(event, data) {
  socket.onmessage({ data: JSON.stringify({ event, data }) });
}

window.harness = {
  answers,
  requests,
  errors,
  start(maxItems) {
    const bell = document.createElement('herald-bell');
    if (maxItems) bell.setAttribute('max-items', String(maxItems));
    bell.addEventListener('herald-error', (event) => errors.push(event.detail.error.name));
    document.body.append(bell);
    bell.client = connect('ws://herald.test/ws', {
      WebSocket: FakeSocket,
      fetch: fakeFetch,
      getToken: () => 'token',
      reconnect: { soonMaxDelayMs: 10 },
    });
  },
  connected: () => socket !== null,
  /** Re-parents the bell, as a framework or a sorted list does: disconnect, then connect again. */
  move() {
    const box = document.createElement('div');
    document.body.append(box);
    box.append(document.querySelector('herald-bell'));
  },
  welcome(user) {
    push('welcome', { connectionId: 'c' + seq, user, heartbeatMs: 25000, maxMessageBytes: 65536, rooms: ['user:' + user], expiresAt: null });
  },
  drop() {
    const dropped = socket;
    socket = null;
    dropped.onclose({ code: 1012, reason: 'service_restart' });
  },
  notify(room, id, title, body) {
    push('notification', { id, seq: seqText(++seq), room, type: 'test', payload: body === undefined ? { title } : { title, body }, timestamp: new Date(Date.now() + seq).toISOString() });
  },
  inboxEvent(unread, read) {
    push('inbox', { unread, read });
  },
};
`;

function item(id: string, read: boolean, minutesAgo: number) {
  return { id, seq: `0-${id}`, type: 'test', payload: { title: id }, timestamp: new Date(Date.now() - minutesAgo * 60_000).toISOString(), read };
}

describe('<herald-bell> and the inbox, on a staged network', () => {
  let origin: OriginServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    origin = await startOriginServer();
    browser = await launchChromium();
  });
  beforeEach(async () => {
    page = await browser.newPage();
    page.setDefaultTimeout(5_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${origin.url}/bell`);
    await page.addScriptTag({ type: 'module', content: HARNESS });
    await page.waitForFunction(() => 'harness' in globalThis);
  });
  afterEach(async () => {
    await page.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await origin?.close();
  });

  /** Runs `script` in the page with `harness` in scope. */
  const stage = (script: string) => page.evaluate(`(async (harness) => { ${script} })(window.harness)`);
  const connected = async (answers: { list?: unknown[]; read?: unknown[] }, maxItems?: number) => {
    await stage(`harness.answers.list.push(...${JSON.stringify(answers.list ?? [])}); harness.answers.read.push(...${JSON.stringify(answers.read ?? [])}); harness.start(${maxItems ?? ''});`);
    await page.waitForFunction(() => (globalThis as any).harness.connected());
    await stage(`harness.welcome('una')`);
  };
  const titles = () => page.locator('herald-bell li[data-id] .title').allTextContents();
  const readIds = () => page.locator('herald-bell li.read').evaluateAll((items) => items.map((li) => li.getAttribute('data-id')));
  const badge = async () => ((await page.locator('herald-bell .badge').isHidden()) ? '' : await page.locator('herald-bell .badge').textContent());
  const requests = () => stage('return harness.requests') as Promise<Array<{ method: string; path: string; body: unknown }>>;
  const errors = () => stage('return harness.errors') as Promise<string[]>;

  it("lists the inbox, adds live notifications once, and counts other rooms' on top of the server's unread", async () => {
    await connected({ list: [{ status: 200, body: { items: [item('b', false, 1), item('a', true, 2)], unread: 1, next: null } }] }, 10);
    await eventually(async () => expect(await titles()).toEqual(['b', 'a']));
    expect(await readIds()).toEqual(['a']);
    expect(await badge()).toBe('1');
    await stage(`harness.notify('user:una', 'b', 'b again'); harness.notify('public:news', 'b', 'b in news')`);
    await stage(`harness.notify('user:una', 'c', 'c'); harness.notify('public:news', 'n', 'news')`);
    await eventually(async () => expect(await titles()).toEqual(['news', 'c', 'b', 'a']));
    expect(await badge()).toBe('3'); // b and c in the inbox, news in a room of the page
    expect(await requests()).toEqual([{ method: 'GET', path: '/v1/inbox?limit=10', body: undefined }]);
  });

  it("keeps its styles on a page whose policy allows no inline style, and wraps a title with no break in the panel's width", async () => {
    await page.goto(`${origin.url}/strict-styles`);
    await page.addScriptTag({ type: 'module', content: HARNESS });
    await page.waitForFunction(() => 'harness' in globalThis);
    await connected({ list: [{ status: 200, body: { items: [], unread: 0, next: null } }] });
    await stage(`harness.notify('public:news', 'long', 'Invoice https://billing.example.com/invoices/' + '0'.repeat(300) + '/download')`);
    await eventually(async () => expect(await titles()).toHaveLength(1));
    await page.locator('herald-bell button.bell').click();
    const layout = (await stage(`
      const panel = document.querySelector('herald-bell').shadowRoot.querySelector('.panel');
      const style = getComputedStyle(panel);
      return { position: style.position, width: panel.getBoundingClientRect().width, overflows: panel.scrollWidth > panel.clientWidth };
    `)) as { position: string; width: number; overflows: boolean };
    expect(layout).toEqual({ position: 'fixed', width: 320, overflows: false });
  });

  it('builds itself on a page that enforces Trusted Types, where every innerHTML assignment is refused', async () => {
    await page.goto(`${origin.url}/trusted-types`);
    const built = await page.evaluate(`(async () => {
      const { defineHeraldBell } = await import('/sdk/herald-bell.element.js');
      defineHeraldBell();
      const bell = document.createElement('herald-bell');
      document.body.append(bell);
      bell.toggle(true);
      const root = bell.shadowRoot;
      return { parts: [...root.children].map((child) => child.localName), icon: root.querySelector('svg path') !== null, open: !root.querySelector('.panel').hidden };
    })()`);
    expect(built).toEqual({ parts: ['button', 'div', 'div'], icon: true, open: true });
  });

  it('keeps a notification with a body of thousands of lines to a few lines in the list', async () => {
    await connected({ list: [{ status: 200, body: { items: [], unread: 0, next: null } }] });
    await stage(`harness.notify('public:news', 'tall', 'Tall', 'line\\n'.repeat(3000))`);
    await eventually(async () => expect(await titles()).toEqual(['Tall']));
    await page.locator('herald-bell button.bell').click();
    const height = (await stage(`return document.querySelector('herald-bell').shadowRoot.querySelector('li[data-id="tall"]').getBoundingClientRect().height`)) as number;
    expect(height).toBeLessThan(250);
  });

  it('shows a burst of notifications in one update, keeping the entries already shown and announcing them once', async () => {
    await connected({ list: [{ status: 200, body: { items: [item('a', false, 1)], unread: 1, next: null } }] }, 200);
    await eventually(async () => expect(await titles()).toEqual(['a']));
    const burst = await stage(`
      const root = document.querySelector('herald-bell').shadowRoot;
      const list = root.querySelector('ol');
      const badge = root.querySelector('.badge');
      const shown = list.querySelector('li[data-id="a"]');
      const changes = { removed: 0, badge: 0 };
      const observer = new MutationObserver((mutations) => {
        for (const mutation of mutations) {
          if (mutation.target === list) changes.removed += mutation.removedNodes.length;
          else changes.badge += 1;
        }
      });
      observer.observe(list, { childList: true });
      observer.observe(badge, { childList: true, characterData: true, subtree: true });
      for (let i = 0; i < 150; i += 1) harness.notify('public:news', 'n' + i, 'n' + i);
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
      observer.disconnect();
      return {
        ...changes,
        kept: list.querySelector('li[data-id="a"]') === shown,
        items: list.children.length,
        first: list.firstElementChild.dataset.id,
        announced: root.querySelector('[role="status"]').textContent,
      };
    `);
    expect(burst).toEqual({ removed: 0, badge: 1, kept: true, items: 151, first: 'n149', announced: '150 new notifications' });
    expect(await badge()).toBe('99+');
  });

  it('marks what arrives in the open list read on the server in one request per frame', async () => {
    await connected({ list: [{ status: 200, body: { items: [], unread: 0, next: null } }], read: [{ status: 200, body: { unread: 0 } }] });
    await eventually(async () => expect(await requests()).toHaveLength(1));
    await page.locator('herald-bell button.bell').click();
    await stage(`for (const id of ['u1', 'u2', 'u3']) harness.notify('user:una', id, id)`);
    await eventually(async () => expect(await requests()).toHaveLength(2));
    expect((await requests())[1]).toEqual({ method: 'POST', path: '/v1/inbox/read', body: { ids: ['u1', 'u2', 'u3'] } });
    expect(await badge()).toBe('');
  });

  it('keeps following its client after being moved elsewhere in the page', async () => {
    const empty = { status: 200, body: { items: [], unread: 0, next: null } };
    await connected({ list: [empty, empty] });
    await stage(`harness.move()`);
    await stage(`harness.notify('public:news', 'm', 'after the move')`);
    await eventually(async () => expect(await titles()).toEqual(['after the move']));
  });

  it('marks the unread ids read when the list is opened, and all when unread items are older than the list', async () => {
    await connected({ list: [{ status: 200, body: { items: [item('b', false, 1), item('a', false, 2)], unread: 2, next: null } }], read: [{ status: 200, body: { unread: 0 } }] });
    await eventually(async () => expect(await badge()).toBe('2'));
    await page.locator('herald-bell button.bell').click();
    expect(await badge()).toBe('');
    await eventually(async () => expect(await requests()).toHaveLength(2));
    expect((await requests())[1]).toEqual({ method: 'POST', path: '/v1/inbox/read', body: { ids: ['b', 'a'] } });
    expect(await readIds()).toEqual(['b', 'a']);

    await page.reload();
    await page.addScriptTag({ type: 'module', content: HARNESS });
    await page.waitForFunction(() => 'harness' in globalThis);
    await connected({ list: [{ status: 200, body: { items: [item('z', false, 1)], unread: 40, next: 's-z' } }], read: [{ status: 200, body: { unread: 0 } }] }, 1);
    await eventually(async () => expect(await badge()).toBe('40'));
    await page.locator('herald-bell button.bell').click();
    expect(await badge()).toBe('');
    await eventually(async () => expect((await requests()).at(-1)).toEqual({ method: 'POST', path: '/v1/inbox/read', body: { all: true } }));
    await stage(`harness.inboxEvent(0, 'all')`);
    expect(await badge()).toBe('');
  });

  it('follows read marks from other tabs, and reloads the inbox after a reconnect', async () => {
    await connected({
      list: [
        { status: 200, body: { items: [item('b', false, 1), item('a', false, 2)], unread: 2, next: null } },
        { status: 200, body: { items: [item('c', false, 0), item('b', true, 1), item('a', true, 2)], unread: 1, next: null } },
      ],
    });
    await eventually(async () => expect(await badge()).toBe('2'));
    await stage(`harness.inboxEvent(1, ['a'])`);
    expect(await badge()).toBe('1');
    expect(await readIds()).toEqual(['a']);

    // Meanwhile another tab read b and c arrived: neither inbox events nor the list are replayed.
    await stage('harness.drop()');
    await page.waitForFunction(() => (globalThis as any).harness.connected());
    await stage(`harness.welcome('una')`);
    await eventually(async () => expect(await titles()).toEqual(['c', 'b', 'a']));
    expect(await readIds()).toEqual(['b', 'a']);
    expect(await badge()).toBe('1');
    expect((await requests()).map((request) => request.path)).toEqual(['/v1/inbox?limit=50', '/v1/inbox?limit=50']);
  });

  it('shows items unread again when marking them read fails, and says so', async () => {
    await connected({
      list: [{ status: 200, body: { items: [item('a', false, 1)], unread: 1, next: null } }],
      read: [{ status: 503, body: { statusCode: 503, message: 'Service Unavailable' } }],
    });
    await eventually(async () => expect(await badge()).toBe('1'));
    await page.locator('herald-bell button.bell').click();
    await eventually(async () => expect(await errors()).toEqual(['HeraldHttpError']));
    expect(await readIds()).toEqual([]);
    expect(await badge()).toBe('1');
  });

  it('keeps read state in the page against a server without the inbox', async () => {
    await connected({});
    await stage(`harness.notify('user:una', 'a', 'a'); harness.notify('user:una', 'b', 'b')`);
    await eventually(async () => expect(await badge()).toBe('2'));
    await eventually(async () => expect(await errors()).toEqual(['HeraldHttpError']));
    await page.locator('herald-bell button.bell').click();
    expect(await badge()).toBe('');
    expect(await readIds()).toEqual(['b', 'a']);
    expect(await requests()).toEqual([{ method: 'GET', path: '/v1/inbox?limit=50', body: undefined }]);
  });
});
