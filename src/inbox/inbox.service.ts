import { Injectable } from '@nestjs/common';
import { InboxPage, InboxReadResponse } from '@herald/client/protocol';
import { InboxStore } from '../broker/inbox.store';

/**
 * Reads and marks a user's inbox. The inbox itself is written by the broker in the same atomic
 * step as each notification to `user:<sub>` (inboxRecipientOf), so it never disagrees with the
 * live stream; a mark reaches the user's connections, on every pod, as an `inbox` event the
 * store delivers in the same atomic step as the mark (InboxStore).
 */
@Injectable()
export class InboxService {
  constructor(private readonly inbox: InboxStore) {}

  list(user: string, limit: number, before?: string): Promise<InboxPage> {
    return this.inbox.read(user, limit, before);
  }

  /** Marks items read; when anything changed, the store tells every connection of the user. */
  async markRead(user: string, selection: string[] | 'all'): Promise<InboxReadResponse> {
    return { unread: await this.inbox.markRead(user, selection) };
  }
}
