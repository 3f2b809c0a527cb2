import { jest } from '@jest/globals';
import WebSocket from 'ws';
import { HeraldAuthError, PublishClient, connect, type HeraldClient, type InboxEvent, type InboxItem } from '@herald/client';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { createTestApp, type TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';

jest.setTimeout(20_000);

describe.each(BROKER_KINDS)('client.inbox against a real Herald (%s broker)', (kind) => {
  const broker = useBroker(kind);
  /** Two pods on Redis, so the second client's inbox events cross pods; one app in memory. */
  let pods: TestApp[];
  let publisher: PublishClient;
  const clients: HeraldClient[] = [];

  beforeAll(async () => {
    const first = await createTestApp(broker.env());
    pods = kind === 'redis' ? [first, await createTestApp(broker.env())] : [first, first];
    publisher = new PublishClient({ baseUrl: first.url, token: publisherToken() });
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });
  afterAll(async () => {
    for (const pod of new Set(pods)) await pod.close();
  });

  async function open(user: string, pod = 0) {
    const client = connect(pods[pod].wsUrl, { WebSocket, getToken: () => signToken({ sub: user }) });
    clients.push(client);
    const inboxEvents: InboxEvent[] = [];
    client.on('inbox', (event) => inboxEvents.push(event));
    await client.whenOpen();
    return { client, inboxEvents };
  }

  const notify = (user: string, title: string) => publisher.publish({ users: [user], type: 'test', payload: { title } });

  it('lists what was published to the user, newest first and unread', async () => {
    const { client } = await open('ivy');
    const first = await notify('ivy', 'first');
    const second = await notify('ivy', 'second');
    const page = await client.inbox.list();
    expect(page.items.map(({ id, read, payload }) => ({ id, read, title: payload.title }))).toEqual([
      { id: second.id, read: false, title: 'second' },
      { id: first.id, read: false, title: 'first' },
    ]);
    expect(page.items.every((item: InboxItem) => typeof item.seq === 'string' && !Number.isNaN(Date.parse(item.timestamp)))).toBe(true);
    expect(page).toMatchObject({ unread: 2, next: null });
    expect(client.inbox.unread).toBe(2);
  });

  it('pages through the inbox with before, every item once', async () => {
    const { client } = await open('jack');
    const published: string[] = [];
    for (let i = 0; i < 5; i += 1) published.unshift((await notify('jack', `n${i}`)).id);
    const seen: string[] = [];
    let before: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<HeraldClient['inbox']['list']>> = await client.inbox.list({ limit: 2, before });
      seen.push(...page.items.map((item) => item.id));
      before = page.next;
      pages += 1;
    } while (before !== null && pages < 10);
    expect(seen).toEqual(published);
    expect(pages).toBe(3);
  });

  it('marks read in one client and tells every client of the user, on every pod', async () => {
    const alpha = await open('kate', 0);
    const beta = await open('kate', 1);
    const ids = [(await notify('kate', 'a')).id, (await notify('kate', 'b')).id, (await notify('kate', 'c')).id];
    // The publish's 202 means stored: the inbox has them at once.
    expect((await alpha.client.inbox.list()).unread).toBe(3);

    await expect(alpha.client.inbox.markRead([ids[0], 'not-in-the-inbox'])).resolves.toEqual({ unread: 2 });
    expect(alpha.client.inbox.unread).toBe(2);
    await eventually(() => expect(beta.inboxEvents).toEqual([{ unread: 2, read: expect.arrayContaining([ids[0]]) }]));
    expect(beta.client.inbox.unread).toBe(2);
    await eventually(() => expect(alpha.inboxEvents).toHaveLength(1));

    await expect(beta.client.inbox.markRead('all')).resolves.toEqual({ unread: 0 });
    await eventually(() => expect(alpha.inboxEvents.at(-1)).toEqual({ unread: 0, read: 'all' }));
    expect(alpha.client.inbox.unread).toBe(0);
    const page = await alpha.client.inbox.list();
    expect(page.items.map((item) => item.read)).toEqual([true, true, true]);
  });

  it('counts a notification that arrives live once, even when it is listed too', async () => {
    const { client } = await open('liam');
    await client.inbox.list();
    expect(client.inbox.unread).toBe(0);
    const { id } = await notify('liam', 'live');
    await eventually(() => expect(client.inbox.unread).toBe(1));
    const page = await client.inbox.list();
    expect(page.items.map((item) => item.id)).toEqual([id]);
    expect(client.inbox.unread).toBe(1);
  });

  it("shows nothing of another user's inbox", async () => {
    await notify('mia', 'private');
    const { client } = await open('noah');
    await expect(client.inbox.list()).resolves.toEqual({ items: [], unread: 0, next: null });
  });

  it('rejects a forged token with a HeraldAuthError', async () => {
    const { client } = await open('olive');
    const forged = connect(pods[0].wsUrl, { WebSocket, getToken: () => signToken({ sub: 'olive' }, 'not-the-server-secret-0123456789abcdef') });
    clients.push(forged);
    const failure = forged.inbox.list();
    await expect(failure).rejects.toBeInstanceOf(HeraldAuthError);
    await expect(failure).rejects.toMatchObject({ status: 401 });
    expect(client.inbox.unread).toBeNull();
  });
});
