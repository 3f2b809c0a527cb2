import { Injectable, Logger } from '@nestjs/common';
import { InboxPage, InboxReadResponse, personalRoom } from '@herald/client/protocol';
import { Broker } from '../broker/broker';
import { InboxStore } from '../broker/inbox.store';
import { serverFrame } from '../connections/server-frame';

/**
 * Reads and marks a user's inbox. The inbox itself is written by the broker in the same atomic
 * step as each notification to `user:<sub>` (inboxRecipientOf), so it never disagrees with the
 * live stream; read state reaches the user's other connections through the broker's one
 * delivery path.
 */
@Injectable()
export class InboxService {
  private readonly logger = new Logger(InboxService.name);

  constructor(
    private readonly inbox: InboxStore,
    private readonly broker: Broker,
  ) {}

  list(user: string, limit: number, before?: string): Promise<InboxPage> {
    return this.inbox.read(user, limit, before);
  }

  /** Marks items read; when anything changed, every connection of the user hears about it. */
  async markRead(user: string, selection: string[] | 'all'): Promise<InboxReadResponse> {
    const { unread, changed } = await this.inbox.markRead(user, selection);
    if (changed !== null) {
      // Listed in the order the client asked, whichever order the store marked them in.
      const marked = changed === 'all' ? 'all' : new Set(changed);
      const read = marked === 'all' ? 'all' : [...new Set(selection)].filter((id) => marked.has(id));
      const frame = serverFrame('inbox', { unread, read });
      try {
        await this.broker.broadcast(personalRoom(user), frame);
      } catch (error) {
        // The marks are stored: answering 503 would make the caller believe they were not.
        // Other tabs catch up on their next list.
        this.logger.warn({ message: 'Inbox event not broadcast', user, error: String(error) });
      }
    }
    return { unread };
  }
}
