import { PERSONAL_ROOM_PREFIX } from '@herald/client/protocol';
import { PresenceAnnouncement, PresenceChange, PresenceSnapshot, PresenceStore, PresentUsers, UnheardPresence, announcedFrame } from '../presence.store';

/** Delivers a frame to a room's members but `excludeUser`'s, behind what is queued (MemoryBroker.broadcastNow). */
export type BroadcastNow = (room: string, frame: string, excludeUser: string) => void;

/** Where personal rooms' presence is kept: one map of users for all of them, not a map per room. */
const PERSONAL_ROOMS = `${PERSONAL_ROOM_PREFIX}*`;

/**
 * The embedded engine's presence: one pod, so every entry is this pod's and none ever expires
 * (a connection's own cleanup removes it).
 */
export class MemoryPresenceStore extends PresenceStore {
  /** room -> user -> that user's connection ids there: one id, or a Set of several (the common case costs no Set). */
  private readonly presenceByRoom = new Map<string, Map<string, string | Set<string>>>();

  constructor(private readonly broadcastNow: BroadcastNow = () => undefined) {
    super();
  }

  async add(room: string, user: string, connectionId: string, announce?: PresenceAnnouncement): Promise<PresenceChange> {
    const change = this.added(room, user, connectionId);
    if (announce && change.userChanged) this.tell(announcedFrame(announce, room, user, 'joined', change.users), room, user);
    return change;
  }

  async remove(room: string, user: string, connectionId: string, announce?: PresenceAnnouncement): Promise<PresenceChange> {
    const change = this.removed(room, user, connectionId);
    if (announce && change.userChanged) this.tell(announcedFrame(announce, room, user, 'left', change.users + 1), room, user);
    return change;
  }

  enterPersonal(_room: string, user: string, connectionId: string): void {
    this.added(PERSONAL_ROOMS, user, connectionId);
  }

  leavePersonal(_room: string, user: string, connectionId: string): void {
    this.removed(PERSONAL_ROOMS, user, connectionId);
  }

  private tell(frame: string | undefined, room: string, user: string): void {
    if (frame !== undefined) this.broadcastNow(room, frame, user);
  }

  private added(room: string, user: string, connectionId: string): PresenceChange {
    let users = this.presenceByRoom.get(room);
    if (!users) this.presenceByRoom.set(room, (users = new Map()));
    const connections = users.get(user);
    if (connections === undefined) users.set(user, connectionId);
    else if (typeof connections === 'string') {
      if (connections !== connectionId) users.set(user, new Set([connections, connectionId]));
    } else connections.add(connectionId);
    return { userChanged: connections === undefined, users: users.size };
  }

  private removed(room: string, user: string, connectionId: string): PresenceChange {
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
    if (room.startsWith(PERSONAL_ROOM_PREFIX)) {
      const user = room.slice(PERSONAL_ROOM_PREFIX.length);
      const ids = this.presenceByRoom.get(PERSONAL_ROOMS)?.get(user);
      return ids === undefined ? { users: [], connections: 0 } : { users: [user], connections: typeof ids === 'string' ? 1 : ids.size };
    }
    const users = this.presenceByRoom.get(room);
    if (!users) return { users: [], connections: 0 };
    let connections = 0;
    for (const ids of users.values()) connections += typeof ids === 'string' ? 1 : ids.size;
    return { users: [...users.keys()], connections };
  }

  async present(room: string, users: readonly string[]): Promise<PresentUsers> {
    const here = this.presenceByRoom.get(room);
    return { users: here?.size ?? 0, present: here ? users.filter((user) => here.has(user)) : [] };
  }

  /** Nothing is ever unheard: the pod that announces is the only one, and hears itself. */
  async unheard(room: string, _sinceMs: number, _maxUsers: number): Promise<UnheardPresence> {
    return { users: this.presenceByRoom.get(room)?.size ?? 0, joinsToldSince: [], departedSince: [] };
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
