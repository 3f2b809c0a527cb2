import { InboxItem } from '@herald/client/protocol';
import { inboxPage } from './inbox.store';

describe('inboxPage', () => {
  const stored = (positions: number[], read: (position: number) => boolean = () => false): InboxItem[] =>
    positions.map((position) => ({ id: `n${position}`, seq: `e1-${String(position).padStart(12, '0')}`, type: 't', payload: {}, timestamp: '', read: read(position) }));
  const ids = (items: InboxItem[]) => items.map((item) => item.id);
  const oldestFirst = stored([1, 2, 3, 4, 5, 6, 7], (position) => position % 2 === 0);

  it('gives the newest `limit` items, newest first, the cursor to the rest, and the unread count of the whole inbox', () => {
    const page = inboxPage(oldestFirst, 3, undefined);
    expect(ids(page.items)).toEqual(['n7', 'n6', 'n5']);
    expect(page.next).toBe(oldestFirst[4].seq);
    expect(page.unread).toBe(4);
  });

  it('pages on from the cursor, and ends with no cursor where nothing older is left', () => {
    const second = inboxPage(oldestFirst, 3, oldestFirst[4].seq);
    expect(ids(second.items)).toEqual(['n4', 'n3', 'n2']);
    const last = inboxPage(oldestFirst, 3, second.next!);
    expect(ids(last.items)).toEqual(['n1']);
    expect(last.next).toBeNull();
    // A page that takes exactly the rest has no cursor either.
    expect(inboxPage(oldestFirst, 4, oldestFirst[4].seq).next).toBeNull();
    expect(inboxPage([], 3, undefined)).toEqual({ items: [], unread: 0, next: null });
  });

  it('makes only the items of the page, however many the inbox holds', () => {
    const large = stored(Array.from({ length: 10_000 }, (_, i) => i + 1));
    const made: string[] = [];
    const page = inboxPage(large, 1, large[5_000].seq, (item) => {
      made.push(item.id);
      return item;
    });
    expect(ids(page.items)).toEqual(['n5000']);
    expect(made).toEqual(['n5000']);
    expect(page.unread).toBe(10_000);
  });
});
