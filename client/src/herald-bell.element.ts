import { BellListView, type BellItem } from './bell-list.view.ts';
import type { ConnectionState, HeraldClient } from './herald.client.ts';
import { INBOX_LIMIT_MAX, INBOX_READ_IDS_MAX, personalRoom, type InboxEvent, type InboxItem, type Notification } from './protocol.ts';

export { formatTimestamp, type BellItem } from './bell-list.view.ts';

const DEFAULT_MAX_ITEMS = 50;

/**
 * Theming: every colour and size is a CSS custom property set on the element or any ancestor
 * (documented in docs/client.md). Light by default, dark under `prefers-color-scheme: dark`,
 * or forced with the `theme` attribute (`light` / `dark`).
 */
const STYLES = `
  :host {
    --_bg: var(--herald-bg, #ffffff);
    --_fg: var(--herald-fg, #1f2328);
    --_muted: var(--herald-muted, #59636e);
    --_border: var(--herald-border, #d0d7de);
    --_accent: var(--herald-accent, #0969da);
    --_unread-bg: var(--herald-unread-bg, #ddf4ff);
    --_badge-bg: var(--herald-badge-bg, #cf222e);
    --_badge-fg: var(--herald-badge-fg, #ffffff);
    --_shadow: var(--herald-shadow, 0 8px 24px rgba(66, 74, 83, .25));
    position: relative; display: inline-block; color: var(--_fg);
    font: var(--herald-font, 14px/1.4 system-ui, sans-serif);
  }
  :host([theme="dark"]) {
    --_bg: var(--herald-bg, #161b22); --_fg: var(--herald-fg, #e6edf3); --_muted: var(--herald-muted, #9198a1);
    --_border: var(--herald-border, #3d444d); --_accent: var(--herald-accent, #4493f8); --_unread-bg: var(--herald-unread-bg, #182a43);
    --_badge-bg: var(--herald-badge-bg, #da3633); --_shadow: var(--herald-shadow, 0 8px 24px rgba(1, 4, 9, .8));
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme="light"])) {
      --_bg: var(--herald-bg, #161b22); --_fg: var(--herald-fg, #e6edf3); --_muted: var(--herald-muted, #9198a1);
      --_border: var(--herald-border, #3d444d); --_accent: var(--herald-accent, #4493f8); --_unread-bg: var(--herald-unread-bg, #182a43);
      --_badge-bg: var(--herald-badge-bg, #da3633); --_shadow: var(--herald-shadow, 0 8px 24px rgba(1, 4, 9, .8));
    }
  }
  button.bell { position: relative; border: 1px solid var(--_border); border-radius: 50%; width: var(--herald-bell-size, 40px);
    height: var(--herald-bell-size, 40px); background: var(--_bg); color: var(--_fg); cursor: pointer;
    display: inline-flex; align-items: center; justify-content: center; padding: 0; }
  button.bell:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
  .panel:focus-visible { outline: 2px solid var(--_accent); outline-offset: -2px; }
  .badge { position: absolute; top: -6px; right: -6px; min-width: 18px; padding: 0 5px; border-radius: 9px;
    background: var(--_badge-bg); color: var(--_badge-fg); font-size: 11px; line-height: 18px; text-align: center; box-sizing: border-box; }
  .badge[hidden] { display: none; }
  :host([data-state="reconnecting"]) button.bell, :host([data-state="connecting"]) button.bell { opacity: .6; }
  :host([data-state="closed"]) button.bell { filter: grayscale(1); }
  /* Fixed, placed by script from the bell's position so that it stays inside the viewport. */
  .panel { position: fixed; top: 0; left: 0; box-sizing: border-box; width: min(var(--herald-panel-width, 320px), calc(100vw - 16px));
    max-height: var(--herald-panel-max-height, 420px); overflow-y: auto; z-index: var(--herald-z-index, 1000);
    background: var(--_bg); color: var(--_fg); border: 1px solid var(--_border); border-radius: var(--herald-radius, 8px);
    box-shadow: var(--_shadow); text-align: start; }
  .panel[hidden] { display: none; }
  .heading { margin: 0; padding: 10px 12px; font-size: 1em; font-weight: 600; border-bottom: 1px solid var(--_border); }
  ol { list-style: none; margin: 0; padding: 0; }
  li { padding: 10px 12px 10px 14px; border-bottom: 1px solid var(--_border); overflow: hidden; }
  li:last-child { border-bottom: 0; }
  li.unread, li.fresh { background: var(--_unread-bg); box-shadow: inset 3px 0 var(--_accent); }
  li.read:not(.fresh) .title { font-weight: 400; }
  .title { font-weight: 600; overflow-wrap: anywhere; }
  /* At most six lines: a body of thousands of lines made one item taller than any screen. */
  .body { color: var(--_muted); white-space: pre-wrap; overflow-wrap: anywhere; display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 6; line-clamp: 6; overflow: hidden; }
  time { display: block; color: var(--_muted); font-size: 12px; margin-top: 2px; }
  .empty { margin: 0; padding: 16px 12px; color: var(--_muted); }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
`;

/**
 * The shadow root's styles as a constructed stylesheet where the browser has them: a page whose
 * Content-Security-Policy has `style-src 'self'` blocks a `<style>` element, which left the panel
 * unplaced and as wide as its longest line. The element takes the markup and then this.
 */
let sharedSheet: CSSStyleSheet | undefined;

function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
    // One sheet for every bell on the page: adopted, not copied, by each shadow root.
    if (!sharedSheet) {
      sharedSheet = new CSSStyleSheet();
      sharedSheet.replaceSync(STYLES);
    }
    root.adoptedStyleSheets = [sharedSheet];
  } else {
    const style = document.createElement('style');
    style.textContent = STYLES;
    root.prepend(style);
  }
}

/** `created` with its attributes and children. */
function filled(created: Element, attributes: Record<string, string>, children: Array<Node | string>): Element {
  for (const [name, value] of Object.entries(attributes)) created.setAttribute(name, value);
  created.append(...children);
  return created;
}

/** An HTML element with its attributes and children. */
function element(tag: string, attributes: Record<string, string>, children: Array<Node | string> = []): Element {
  return filled(document.createElement(tag), attributes, children);
}

/** An SVG element (in SVG's namespace, or the browser draws nothing) with its attributes and children. */
function svgElement(tag: string, attributes: Record<string, string>, children: Element[] = []): Element {
  return filled(document.createElementNS('http://www.w3.org/2000/svg', tag), attributes, children);
}

/**
 * The bell's shadow DOM, built node by node rather than parsed from markup: a page that enforces
 * Trusted Types (`require-trusted-types-for 'script'`) refuses every innerHTML assignment, and
 * the bell stayed empty there.
 */
function bellDom(): Node[] {
  const icon = svgElement('svg', { 'aria-hidden': 'true', viewBox: '0 0 24 24', width: '20', height: '20', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }, [
    svgElement('path', { d: 'M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9' }),
    svgElement('path', { d: 'M10.3 21a1.94 1.94 0 0 0 3.4 0' }),
  ]);
  const badge = element('span', { class: 'badge', part: 'badge', 'aria-hidden': 'true', hidden: '' }, ['0']);
  return [
    element('button', { class: 'bell', part: 'bell', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'herald-panel', 'aria-label': 'Notifications' }, [icon, badge]),
    element('div', { class: 'panel', id: 'herald-panel', part: 'panel', role: 'region', 'aria-labelledby': 'herald-heading', tabindex: '-1', hidden: '' }, [
      element('h2', { class: 'heading', id: 'herald-heading', part: 'heading' }, ['Notifications']),
      element('p', { class: 'empty' }, ['No notifications yet.']),
      element('ol', { part: 'list', 'aria-labelledby': 'herald-heading' }),
    ]),
    element('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' }),
  ];
}

/** Room between the panel and the viewport's edges, and between the panel and the bell (px). */
const EDGE_GAP_PX = 8;
/** Below this much room under the bell, the panel opens above it when there is more room there. */
const MIN_PANEL_HEIGHT_PX = 200;

/**
 * Longest wait for a render asked for with #renderSoon: an animation frame comes first in a
 * visible page; a hidden one gets none, and still shows the latest state when looked at.
 */
const RENDER_FALLBACK_MS = 100;

/** Before the DOM exists (server-side rendering, Node) the module still loads. */
const ElementBase = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

/**
 * `<herald-bell>`: a bell with an unread badge and the list of notifications, newest first.
 * Give it a client (`bell.client = connect(...)`): it loads the user's inbox, then adds live
 * notifications, each `id` once, titled by `payload.title` (else its `type`) with `payload.body`
 * beneath. The badge is the inbox's unread count from the server, plus unread notifications of
 * other rooms. Opening the list marks everything read, on the server too (what was unread stays
 * marked as new until it closes), and dispatches `herald-read` with the ids it marked; `inbox` events from the user's other tabs update the
 * badge and the read styling. A failed inbox request dispatches `herald-error` (`detail.error`).
 * The host's `data-state` attribute follows the connection state, for styling.
 */
export class HeraldBellElement extends ElementBase {
  #client: HeraldClient | null = null;
  #unsubscribe: Array<() => void> = [];
  /** Newest first, at most maxItems; #byId indexes the same items. */
  #items: BellItem[] = [];
  readonly #byId = new Map<string, BellItem>();
  #root: ShadowRoot | null = null;
  #view: BellListView | null = null;
  /** A render asked for by #renderSoon and not done yet. */
  #renderPending = false;
  #frame = 0;
  #frameTimer: ReturnType<typeof setTimeout> | undefined;
  /** Live notifications since the last render, for one announcement per render. */
  #arrived: BellItem[] = [];
  /** Inbox ids seen in the open list since the last render, marked read on the server together. */
  #seenWhileOpen: string[] = [];
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
  /**
   * Ids that were unread when the list was opened, or arrived while it is open: already read
   * on the server (the badge has dropped), still shown as new until the list closes, so the
   * reader can tell them from the old ones.
   */
  #fresh = new Set<string>();
  /** While open: keeps the panel placed, closes it on a click outside. Removed on close. */
  readonly #onViewportChange = () => this.#place();
  readonly #onPointerDown = (event: Event) => {
    if (!event.composedPath().includes(this)) this.toggle(false);
  };

  get client(): HeraldClient | null {
    return this.#client;
  }

  set client(client: HeraldClient | null) {
    this.#detach();
    this.#client = client;
    this.#marking.clear();
    this.#markingAll = false;
    this.#seenWhileOpen = [];
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
      // Every personal notification changes the count: rendered with the notification, once a frame.
      client.on('unread', () => this.#renderSoon()),
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
    const unread = this.#items.filter((item) => !item.read);
    if (serverUnread === null) return unread.length;
    const otherRooms = unread.filter((item) => !item.inbox).length;
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
      this.#root.append(...bellDom());
      adoptStyles(this.#root);
      this.#view = new BellListView(this.#part('ol'));
      this.#part('button.bell').addEventListener('click', () => this.toggle());
      this.#root.addEventListener('keydown', (event) => {
        if ((event as KeyboardEvent).key !== 'Escape' || !this.#isOpen()) return;
        event.stopPropagation();
        this.toggle(false);
        this.#part('button.bell').focus();
      });
    }
    if (this.#client && this.#unsubscribe.length === 0) this.#attach(this.#client);
    this.#render();
  }

  disconnectedCallback(): void {
    // The client stays set: a bell moved elsewhere in the page (re-parenting fires disconnect
    // then connect) follows it again.
    this.#detach();
    if (this.#isOpen()) this.toggle(false);
  }

  #detach(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
  }

  /**
   * Adds a live notification; one already listed (same `id`: from the inbox, or sent to two
   * rooms) is not added again. The list is drawn once per animation frame, however many arrive.
   */
  add(notification: Notification): void {
    const user = this.#client?.welcome?.user;
    const inbox = user !== undefined && notification.room === personalRoom(user);
    const existing = this.#byId.get(notification.id);
    if (existing) {
      existing.inbox ||= inbox;
      return;
    }
    const read = this.#isOpen();
    const item = toItem(notification, read, inbox);
    if (!this.#insert(item)) return;
    // Seen as it arrived in the open list: read, and shown as new until the list closes.
    if (read) this.#fresh.add(item.id);
    if (read && inbox && this.#inbox !== 'unavailable') {
      // Discounted from the badge at once; sent to the server with the others of this frame.
      this.#marking.add(item.id);
      this.#seenWhileOpen.push(item.id);
    }
    if (this.#root) this.#arrived.push(item);
    this.#renderSoon();
  }

  /**
   * Opens or closes the list. Opening marks every item read (the badge clears) but shows the
   * ones that were unread as new until the list closes; it moves focus into the list, and
   * Escape or a click outside closes it (Escape returns focus to the bell).
   */
  toggle(open = !this.#isOpen()): void {
    if (!this.#root || open === this.#isOpen()) return;
    const panel = this.#part('.panel');
    panel.hidden = !open;
    this.#part('button.bell').setAttribute('aria-expanded', String(open));
    if (open) {
      for (const item of this.#items) if (!item.read) this.#fresh.add(item.id);
      this.#place();
      addEventListener('resize', this.#onViewportChange);
      addEventListener('scroll', this.#onViewportChange, { capture: true, passive: true });
      document.addEventListener('pointerdown', this.#onPointerDown, { capture: true });
      this.markAllRead();
      panel.focus({ preventScroll: true });
    } else {
      removeEventListener('resize', this.#onViewportChange);
      removeEventListener('scroll', this.#onViewportChange, { capture: true });
      document.removeEventListener('pointerdown', this.#onPointerDown, { capture: true });
      this.#fresh.clear();
      this.#render();
    }
  }

  /** Whether the list is open. */
  get open(): boolean {
    return this.#isOpen();
  }

  /**
   * Puts the open panel next to the bell and inside the viewport: under it (or above, when
   * there is more room there and too little below), right-aligned to the bell where that
   * fits, else moved in from the edge it would cross; never wider or taller than the viewport.
   */
  #place(): void {
    if (!this.#isOpen()) return;
    const panel = this.#part('.panel');
    const bell = this.#part('button.bell').getBoundingClientRect();
    const viewportWidth = document.documentElement.clientWidth || innerWidth;
    const viewportHeight = document.documentElement.clientHeight || innerHeight;
    panel.style.maxHeight = '';
    const width = panel.offsetWidth;
    const preferredHeight = Number.parseFloat(getComputedStyle(panel).maxHeight) || Number.POSITIVE_INFINITY;
    const left = Math.max(EDGE_GAP_PX, Math.min(bell.right - width, viewportWidth - EDGE_GAP_PX - width));
    const below = viewportHeight - bell.bottom - 2 * EDGE_GAP_PX;
    const above = bell.top - 2 * EDGE_GAP_PX;
    const openAbove = below < Math.min(MIN_PANEL_HEIGHT_PX, preferredHeight) && above > below;
    panel.style.maxHeight = `${Math.max(0, Math.min(preferredHeight, openAbove ? above : below))}px`;
    const top = openAbove ? bell.top - EDGE_GAP_PX - panel.offsetHeight : bell.bottom + EDGE_GAP_PX;
    panel.style.left = `${Math.round(left)}px`;
    panel.style.top = `${Math.round(top)}px`;
    panel.dataset.placement = openAbove ? 'above' : 'below';
  }

  /** Says what arrived since the last render to screen readers (a polite live region), without moving focus. */
  #announceArrivals(): void {
    const arrived = this.#arrived.filter((item) => this.#byId.get(item.id) === item);
    this.#arrived = [];
    if (arrived.length === 0 || !this.#root) return;
    this.#part('[role="status"]').textContent = arrived.length === 1 ? `New notification: ${arrived[0].title}` : `${arrived.length} new notifications`;
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
      else this.#markReadInChunks(inboxIds);
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
        const existing = this.#byId.get(listed.id);
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

  /** markRead takes at most INBOX_READ_IDS_MAX ids at a time (a bell with a long max-items may hold more). */
  #markReadInChunks(ids: string[]): void {
    for (let start = 0; start < ids.length; start += INBOX_READ_IDS_MAX) void this.#markRead(ids.slice(start, start + INBOX_READ_IDS_MAX));
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

  /** Puts `item` in its place, newest first by timestamp; false when it is too old to be kept. */
  #insert(item: BellItem): boolean {
    // A live notification is the newest and lands at the top; a replay after a reconnect, or an
    // older inbox page, in its place.
    let at = 0;
    while (at < this.#items.length && this.#items[at].timestamp > item.timestamp) at += 1;
    const maxItems = this.maxItems;
    if (at >= maxItems) return false;
    this.#items.splice(at, 0, item);
    this.#byId.set(item.id, item);
    for (const dropped of this.#items.splice(maxItems)) {
      this.#byId.delete(dropped.id);
      // Listed no more: its mark would only grow the set while the list stays open through a flood.
      this.#fresh.delete(dropped.id);
    }
    return true;
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

  /** Renders within the next animation frame, once however often it is asked. */
  #renderSoon(): void {
    if (this.#renderPending) return;
    this.#renderPending = true;
    const render = () => {
      if (this.#renderPending) this.#render();
    };
    if (typeof requestAnimationFrame === 'function') this.#frame = requestAnimationFrame(render);
    this.#frameTimer = setTimeout(render, RENDER_FALLBACK_MS);
  }

  /** Shows the current state now: the badge, the list, and what arrived since the last render. */
  #render(): void {
    this.#renderPending = false;
    if (this.#frame) cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    clearTimeout(this.#frameTimer);
    if (this.#seenWhileOpen.length > 0) {
      const ids = this.#seenWhileOpen;
      this.#seenWhileOpen = [];
      this.#markReadInChunks(ids);
    }
    if (!this.#root) return;
    const unread = this.unread;
    const badge = this.#part('.badge');
    badge.hidden = unread === 0;
    badge.textContent = unread > 99 ? '99+' : String(unread);
    this.#part('button.bell').setAttribute('aria-label', unread ? `Notifications, ${unread} unread` : 'Notifications');
    this.#part('.empty').hidden = this.#items.length > 0;
    this.#view!.render(this.#items, this.#fresh, new Date());
    this.#announceArrivals();
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
