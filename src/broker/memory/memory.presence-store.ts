import { PresenceChange, PresenceSnapshot, PresenceStore } from '../presence.store';

/**
 * The embedded engine's presence: one pod, so every entry is this pod's and none ever expires
 * (a connection's own cleanup removes it).
 */
export class MemoryPresenceStore extends PresenceStore {
  /** room -> user -> that user's connection ids there: one id, or a Set of several (the common case costs no Set). */
  private readonly presenceByRoom = new Map<string, Map<string, string | Set<string>>>();

  async add(room: string, user: string, connectionId: string): Promise<PresenceChange> {
    let users = this.presenceByRoom.get(room);
    if (!users) this.presenceByRoom.set(room, (users = new Map()));
    const connections = users.get(user);
    if (connections === undefined) users.set(user, connectionId);
    else if (typeof connections === 'string') {
      if (connections !== connectionId) users.set(user, new Set([connections, connectionId]));
    } else connections.add(connectionId);
    return { userChanged: connections === undefined, users: users.size };
  }

  async remove(room: string, user: string, connectionId: string): Promise<PresenceChange> {
    const users = this.presenceByRoom.get(room);
    const connections = users?.get(user);
    if (!users || connections === undefined) return { userChanged: false, users: users?.size ?? 0 };
    let userChanged = false;
    if (connections === connectionId) {
      users.delete(user);
      userChanged = true;
    } else if (typeof connections !== 'string' && connections.delete(connectionId) && connections.size === 1) {
      users.set(user, connections.values().next().value!);
    }
    if (users.size === 0) this.presenceByRoom.delete(room);
    return { userChanged, users: users.size };
  }

  async snapshot(room: string): Promise<PresenceSnapshot> {
    const users = this.presenceByRoom.get(room);
    if (!users) return { users: [], connections: 0 };
    let connections = 0;
    for (const ids of users.values()) connections += typeof ids === 'string' ? 1 : ids.size;
    return { users: [...users.keys()], connections };
  }

  onExpired(): void {
    // In-process entries never expire: a connection's own cleanup removes them.
  }

  get localEntries(): number {
    let entries = 0;
    for (const users of this.presenceByRoom.values()) for (const ids of users.values()) entries += typeof ids === 'string' ? 1 : ids.size;
    return entries;
  }

  close(): void {
    this.presenceByRoom.clear();
  }
}
