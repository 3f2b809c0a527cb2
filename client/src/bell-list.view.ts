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

/** The element that shows one item, and what it shows, so an update touches only what changed. */
interface Row {
  li: HTMLLIElement;
  label: HTMLSpanElement;
  time: HTMLTimeElement;
  date: Date;
  /** `read` and `fresh` as last shown. */
  look: string;
  /** The day (of `now`) the time was last formatted for: "today" is relative to it. */
  formattedOn: string;
}

/**
 * The `<ol>` of `<herald-bell>`, kept in step with its items. Rendering is keyed by id: an item
 * already shown keeps its element, and only what changed is written (its read styling, its time
 * when the day turned). A burst of notifications used to rebuild the whole list, with two
 * locale formattings per item, for every one of them: 3,000 froze a page for 24 s.
 *
 * Payload text only ever goes through textContent: a notification cannot inject markup.
 */
export class BellListView {
  readonly #list: HTMLElement;
  readonly #rows = new Map<string, Row>();

  constructor(list: HTMLElement) {
    this.#list = list;
  }

  /** Shows `items` in their order; `fresh` are the ids to mark as new. */
  render(items: readonly BellItem[], fresh: ReadonlySet<string>, now: Date): void {
    const shown = new Set(items.map((item) => item.id));
    for (const [id, row] of this.#rows) {
      if (shown.has(id)) continue;
      row.li.remove();
      this.#rows.delete(id);
    }
    const today = now.toDateString();
    let next: ChildNode | null = this.#list.firstChild;
    for (const item of items) {
      let row = this.#rows.get(item.id);
      if (!row) this.#rows.set(item.id, (row = createRow(item)));
      updateRow(row, item, fresh.has(item.id), now, today);
      // Already in place: move on; else (new, or an older item overtaken) put it here.
      if (row.li === next) next = next.nextSibling;
      else this.#list.insertBefore(row.li, next);
    }
  }
}

function createRow(item: BellItem): Row {
  const li = document.createElement('li');
  li.dataset.id = item.id;
  // Colour alone says nothing to a screen reader: unread and new items say so in words.
  const label = li.appendChild(document.createElement('span'));
  label.className = 'visually-hidden';
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
  const date = new Date(item.timestamp);
  time.title = Number.isNaN(date.getTime()) ? '' : formatter(undefined, FULL).format(date);
  return { li, label, time, date, look: '', formattedOn: '' };
}

function updateRow(row: Row, item: BellItem, fresh: boolean, now: Date, today: string): void {
  const look = `${item.read}|${fresh}`;
  if (row.look !== look) {
    row.look = look;
    row.li.className = (item.read ? 'read' : 'unread') + (fresh ? ' fresh' : '');
    row.li.setAttribute('part', fresh || !item.read ? 'item unread' : 'item');
    row.label.textContent = fresh ? 'New: ' : item.read ? '' : 'Unread: ';
    row.label.hidden = !fresh && item.read;
  }
  if (row.formattedOn !== today) {
    row.formattedOn = today;
    row.time.textContent = formatTimestamp(row.date, now);
  }
}

const CLOCK: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' };
const DAY_AND_CLOCK: Intl.DateTimeFormatOptions = { month: 'short', day: 'numeric', ...CLOCK };
const DATE_AND_CLOCK: Intl.DateTimeFormatOptions = { year: 'numeric', ...DAY_AND_CLOCK };
/** What Date#toLocaleString() shows. */
const FULL: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' };

/** Building an Intl.DateTimeFormat costs far more than formatting with one: each is made once. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(locales: string | string[] | undefined, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = JSON.stringify([locales ?? null, options]);
  let format = formatters.get(key);
  if (!format) formatters.set(key, (format = new Intl.DateTimeFormat(locales, options)));
  return format;
}

/** Today's items by time, this year's by day and time, older ones with the year too. */
export function formatTimestamp(date: Date, now: Date, locales?: string | string[]): string {
  if (Number.isNaN(date.getTime())) return '';
  if (date.toDateString() === now.toDateString()) return formatter(locales, CLOCK).format(date);
  return formatter(locales, date.getFullYear() === now.getFullYear() ? DAY_AND_CLOCK : DATE_AND_CLOCK).format(date);
}
