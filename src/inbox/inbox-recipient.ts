import { PERSONAL_ROOM_PREFIX } from '@herald/client/protocol';

/**
 * Whose inbox a notification to `room` lands in (section 6): a personal room's user, nobody
 * for any other room. NotificationsService asks the broker to store it there, in the same
 * step as the publish; the unread webhook watches the same notifications.
 */
export function inboxRecipientOf(room: string): string | undefined {
  return room.startsWith(PERSONAL_ROOM_PREFIX) ? room.slice(PERSONAL_ROOM_PREFIX.length) : undefined;
}
