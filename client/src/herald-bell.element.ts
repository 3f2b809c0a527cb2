import type { ConnectionState, HeraldClient } from './herald.client.ts';
import { INBOX_LIMIT_MAX, personalRoom, type InboxEvent, type InboxItem, type Notification } from './protocol.ts';

/** One entry of the bell's list. */
export interface BellItem {
  id: string;
  type: string;
  title: string;
  body: string;
  timestamp: string;
  read: boolean;
  /** In the user's inbox (sent to `user:<sub>`): the server keeps its read state. */
  inbox: boolean;
}

const DEFAULT_MAX_ITEMS = 50;

const TEMPLATE = `
<style>
  :host { position: relative; display: inline-block; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; }
  button.bell { position: relative; border: 1px solid #d0d7de; border-radius: 50%; width: 40px; height: 40px;
    background: #fff; color: #1f2328; cursor: pointer; display: inline-flex; align-items: center; justify-content: center; padding: 0; }
  button.bell:focus-visible { outline: 2px solid #0969da; outline-offset: 2px; }
  .badge { position: absolute; top: -6px; right: -6px; min-width: 18px; padding: 0 5px; border-radius: 9px;
    background: #cf222e; color: #fff; font-size: 11px; line-height: 18px; text-align: center; box-sizing: border-box; }
  .badge[hidden] { display: none; }
  :host([data-state="reconnecting"]) button.bell, :host([data-state="connecting"]) button.bell { opacity: .6; }
  :host([data-state="closed"]) button.bell { filter: grayscale(1); }
  .panel { position: absolute; right: 0; top: 48px; width: 320px; max-height: 420px; overflow-y: auto; z-index: 10;
    background: #fff; border: 1px solid #d0d7de; border-radius: 8px; box-shadow: 0 8px 24px rgba(140,149,159,.3); }
  .panel[hidden] { display: none; }
  ol { list-style: none; margin: 0; padding: 0; }
  li { padding: 10px 12px; border-bottom: 1px solid #eaeef2; }
  li:last-child { border-bottom: 0; }
  li.unread { background: #f6f8fa; box-shadow: inset 3px 0 #0969da; }
  li.read .title { font-weight: 400; }
  .title { font-weight: 600; }
  .body { color: #57606a; white-space: pre-wrap; word-break: break-word; }
  time { display: block; color: #8c959f; font-size: 12px; }
  .empty { padding: 16px 12px; color: #8c959f; }
</style>
<button class="bell" part="bell" type="button" aria-haspopup="true" aria-expanded="false" aria-label="Notifications">
  <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2"
    stroke-linecap="round" stroke-linejoin="round"><path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9"/><path d="M10.3 21a1.94 1.94 0 0 0 3.4 0"/></svg>
  <span class="badge" part="badge" hidden>0</span>
</button>
<div class="panel" part="panel" role="region" aria-label="Notifications" hidden>
  <p class="empty">No notifications yet.</p>
  <ol part="list"></ol>
</div>`;

/** Before the DOM exists (server-side rendering, Node) the module still loads. */
const ElementBase = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

/**
 * `<herald-bell>`: a bell with an unread badge and the list of notifications, newest first.
 * Give it a client (`bell.client = connect(...)`): it loads the user's inbox, then adds live
 * notifications, each `id` once, titled by `payload.title` (else its `type`) with `payload.body`
 * beneath. The badge is the inbox's unread count from the server, plus unread notifications of
 * other rooms. Opening the list marks everything read, on the server too, and dispatches
 * `herald-read` with the ids it marked; `inbox` events from the user's other tabs update the
 * badge and the read styling. A failed inbox request dispatches `herald-error` (`detail.error`).
 * The host's `data-state` attribute follows the connection state, for styling.
 */
export class HeraldBellElement extends ElementBase {
  #client: HeraldClient | null = null;
  #unsubscribe: Array<() => void> = [];
  #items: BellItem[] = [];
  #root: ShadowRoot | null = null;
  /** Whether the client had a welcome already: the next one is a reconnect, after which the inbox is reloaded. */
  #welcomed = false;
  /**
   * Inbox ids this element is marking read (or everything, `#markingAll`) that the server has
   * not counted yet: the badge discounts them, so it drops as soon as the list opens.
   */
  #marking = new Set<string>();
  #markingAll = false;
  /**
   * Whether the server's inbox backs the list: until a load fails (a server without the inbox
   * API, or unreachable) read marks go to the server; after, they stay local until a reload works.
   */
  #inbox: 'loading' | 'loaded' | 'unavailable' = 'loading';

  get client(): HeraldClient | null {
    return this.#client;
  }

  set client(client: HeraldClient | null) {
    this.#detach();
    this.#client = client;
    this.#marking.clear();
    this.#markingAll = false;
    if (client) this.#attach(client);
  }

  /** Follows the client's events; the inbox is (re)loaded, since none were seen while detached. */
  #attach(client: HeraldClient): void {
    this.#welcomed = client.welcome !== null;
    this.#inbox = 'loading';
    this.#unsubscribe.push(
      client.on('notification', (notification) => this.add(notification)),
      client.on('state', ({ state }) => this.#showState(state)),
      client.on('inbox', (event) => this.#onInboxEvent(event)),
      client.on('unread', () => this.#render()),
      client.on('welcome', () => {
        // Read marks made elsewhere while this page was disconnected are not replayed.
        if (this.#welcomed) void this.#loadInbox(client);
        this.#welcomed = true;
      }),
    );
    this.#showState(client.state);
    void this.#loadInbox(client);
  }

  /** The list as shown, newest first. */
  get items(): readonly BellItem[] {
    return this.#items;
  }

  /** The badge's count. */
  get unread(): number {
    const serverUnread = this.#client?.inbox.unread ?? null;
    if (serverUnread === null) return this.#items.filter((item) => !item.read).length;
    const otherRooms = this.#items.filter((item) => !item.read && !item.inbox).length;
    const inbox = this.#markingAll ? 0 : Math.max(0, serverUnread - this.#marking.size);
    return inbox + otherRooms;
  }

  get maxItems(): number {
    const value = Number(this.getAttribute('max-items'));
    return Number.isInteger(value) && value > 0 ? value : DEFAULT_MAX_ITEMS;
  }

  connectedCallback(): void {
    if (!this.#root) {
      this.#root = this.attachShadow({ mode: 'open' });
      this.#root.innerHTML = TEMPLATE;
      this.#part('button.bell').addEventListener('click', () => this.toggle());
    }
    if (this.#client && this.#unsubscribe.length === 0) this.#attach(this.#client);
    this.#render();
  }

  disconnectedCallback(): void {
    // The client stays set: a bell moved elsewhere in the page (re-parenting fires disconnect
    // then connect) follows it again.
    this.#detach();
  }

  #detach(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
  }

  /** Adds a live notification; one already listed (same `id`: from the inbox, or sent to two rooms) is not added again. */
  add(notification: Notification): void {
    const user = this.#client?.welcome?.user;
    const inbox = user !== undefined && notification.room === personalRoom(user);
    const existing = this.#items.find((item) => item.id === notification.id);
    if (existing) {
      existing.inbox ||= inbox;
      return;
    }
    const read = this.#isOpen();
    this.#insert(toItem(notification, read, inbox));
    // Seen as it arrived in the open list.
    if (read && inbox && this.#inbox !== 'unavailable') void this.#markRead([notification.id]);
    this.#render();
  }

  /** Opens or closes the list; opening marks every item read. */
  toggle(open = !this.#isOpen()): void {
    if (!this.#root) return;
    this.#part('.panel').hidden = !open;
    this.#part('button.bell').setAttribute('aria-expanded', String(open));
    if (open) this.markAllRead();
  }

  markAllRead(): void {
    const unread = this.#items.filter((item) => !item.read);
    const inboxIds = unread.filter((item) => item.inbox && !this.#marking.has(item.id)).map((item) => item.id);
    const serverUnread = this.#client?.inbox.unread ?? 0;
    // Unread inbox items older than the list cannot be shown; opening the list reads them too.
    const older = !this.#markingAll && serverUnread - this.#marking.size > inboxIds.length;
    if (unread.length === 0 && !older) return;
    for (const item of unread) item.read = true;
    if (this.#inbox !== 'unavailable') {
      if (older) void this.#markRead('all');
      else if (inboxIds.length > 0) void this.#markRead(inboxIds);
    }
    this.#render();
    if (unread.length > 0) this.dispatchEvent(new CustomEvent('herald-read', { detail: { ids: unread.map((item) => item.id) } }));
  }

  async #loadInbox(client: HeraldClient): Promise<void> {
    try {
      const page = await client.inbox.list({ limit: Math.min(this.maxItems, INBOX_LIMIT_MAX) });
      if (client !== this.#client) return;
      this.#inbox = 'loaded';
      for (const listed of page.items) {
        const existing = this.#items.find((item) => item.id === listed.id);
        if (existing) {
          existing.inbox = true;
          // Read state only ever goes from unread to read.
          existing.read ||= listed.read;
        } else {
          this.#insert(toItem(listed, listed.read, true));
        }
      }
      this.#render();
    } catch (error) {
      if (client !== this.#client) return;
      if (this.#inbox === 'loading') this.#inbox = 'unavailable';
      this.#reportError(error);
    }
  }

  async #markRead(ids: string[] | 'all'): Promise<void> {
    const client = this.#client;
    if (!client) return;
    if (ids === 'all') this.#markingAll = true;
    else for (const id of ids) this.#marking.add(id);
    try {
      await client.inbox.markRead(ids);
    } catch (error) {
      if (client !== this.#client) return;
      // The server still counts them unread: show them so, and let the app know.
      if (this.#inbox === 'loaded') {
        for (const item of this.#items) if (item.inbox && (ids === 'all' || ids.includes(item.id))) item.read = false;
      }
      this.#reportError(error);
    } finally {
      if (client === this.#client) {
        if (ids === 'all') this.#markingAll = false;
        else for (const id of ids) this.#marking.delete(id);
        this.#render();
      }
    }
  }

  #onInboxEvent({ read }: InboxEvent): void {
    for (const item of this.#items) {
      if (item.inbox && (read === 'all' || read.includes(item.id))) item.read = true;
    }
    // The server has counted these: stop discounting them from its number.
    if (read === 'all') {
      this.#markingAll = false;
      this.#marking.clear();
    } else {
      for (const id of read) this.#marking.delete(id);
    }
    this.#render();
  }

  #insert(item: BellItem): void {
    // Newest first by timestamp; a replay after a reconnect lands in its place.
    const at = this.#items.findIndex((other) => other.timestamp <= item.timestamp);
    this.#items.splice(at === -1 ? this.#items.length : at, 0, item);
    this.#items.length = Math.min(this.#items.length, this.maxItems);
  }

  #reportError(error: unknown): void {
    this.dispatchEvent(new CustomEvent('herald-error', { detail: { error } }));
  }

  #isOpen(): boolean {
    return this.#root !== null && !this.#part('.panel').hidden;
  }

  #showState(state: ConnectionState): void {
    this.setAttribute('data-state', state);
  }

  #part<T extends HTMLElement>(selector: string): T {
    return this.#root!.querySelector(selector) as T;
  }

  #render(): void {
    if (!this.#root) return;
    const unread = this.unread;
    const badge = this.#part('.badge');
    badge.hidden = unread === 0;
    badge.textContent = unread > 99 ? '99+' : String(unread);
    this.#part('button.bell').setAttribute('aria-label', unread ? `Notifications, ${unread} unread` : 'Notifications');
    this.#part('.empty').hidden = this.#items.length > 0;
    const list = this.#part('ol');
    // Payload text only ever goes through textContent: a notification cannot inject markup.
    list.replaceChildren(
      ...this.#items.map((item) => {
        const li = document.createElement('li');
        li.dataset.id = item.id;
        li.className = item.read ? 'read' : 'unread';
        li.setAttribute('part', 'item');
        const title = li.appendChild(document.createElement('div'));
        title.className = 'title';
        title.textContent = item.title;
        if (item.body) {
          const body = li.appendChild(document.createElement('div'));
          body.className = 'body';
          body.textContent = item.body;
        }
        const time = li.appendChild(document.createElement('time'));
        time.dateTime = item.timestamp;
        time.textContent = new Date(item.timestamp).toLocaleTimeString();
        return li;
      }),
    );
  }
}

function toItem(source: Notification | InboxItem, read: boolean, inbox: boolean): BellItem {
  const payload = source.payload ?? {};
  return {
    id: source.id,
    type: source.type,
    title: typeof payload.title === 'string' && payload.title !== '' ? payload.title : source.type,
    body: typeof payload.body === 'string' ? payload.body : '',
    timestamp: source.timestamp,
    read,
    inbox,
  };
}

/** Registers `<herald-bell>` (or another tag name). Safe to call more than once. */
export function defineHeraldBell(tagName = 'herald-bell'): void {
  if (!globalThis.customElements || customElements.get(tagName)) return;
  customElements.define(tagName, class extends HeraldBellElement {});
}

declare global {
  interface HTMLElementTagNameMap {
    'herald-bell': HeraldBellElement;
  }
}
