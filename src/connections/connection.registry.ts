import { Injectable } from '@nestjs/common';
import { PERSONAL_ROOM_PREFIX } from '@herald/client/protocol';
import type { WebSocket } from 'ws';
import { Delivery } from '../broker/broker';
import { Connection } from './connection';
import { PreparedFrame } from './prepared-frame';

/**
 * This pod's connections and who is in which room (centrifuge's "hub"). Pure bookkeeping:
 * joining and leaving rooms at the broker is RoomsService's job.
 */
@Injectable()
export class ConnectionRegistry {
  private readonly connections = new Map<string, Connection>();
  private readonly bySocket = new WeakMap<WebSocket, Connection>();
  private readonly membersByRoom = new Map<string, Members>();
  /** Connections between "subscribed" and "history sent": their live frames wait here. */
  private readonly joiningByRoom = new Map<string, Map<Connection, Delivery[]>>();

  get size(): number {
    return this.connections.size;
  }

  get roomCount(): number {
    return this.membersByRoom.size;
  }

  all(): IterableIterator<Connection> {
    return this.connections.values();
  }

  add(connection: Connection): void {
    this.connections.set(connection.id, connection);
    this.bySocket.set(connection.socket, connection);
  }

  remove(connection: Connection): void {
    this.connections.delete(connection.id);
    this.bySocket.delete(connection.socket);
    for (const room of connection.rooms) removeFrom(this.membersByRoom, room, connection);
    connection.rooms.clear();
    for (const [room, joining] of this.joiningByRoom) {
      if (joining.delete(connection) && joining.size === 0) this.joiningByRoom.delete(room);
    }
  }

  connectionFor(socket: WebSocket): Connection | undefined {
    return this.bySocket.get(socket);
  }

  isMember(connection: Connection, room: string): boolean {
    return connection.rooms.has(room);
  }

  isJoining(connection: Connection, room: string): boolean {
    return this.joiningByRoom.get(room)?.has(connection) ?? false;
  }

  /** Starts buffering the room's live frames for a connection whose history is being read. */
  beginJoin(connection: Connection, room: string): void {
    let joining = this.joiningByRoom.get(room);
    if (!joining) this.joiningByRoom.set(room, (joining = new Map()));
    joining.set(connection, []);
  }

  /** Ends buffering; returns what arrived meanwhile. `admit` makes the connection a live member. */
  endJoin(connection: Connection, room: string, admit: boolean): Delivery[] {
    const joining = this.joiningByRoom.get(room);
    const buffered = joining?.get(connection) ?? [];
    if (joining?.delete(connection) && joining.size === 0) this.joiningByRoom.delete(room);
    if (admit) {
      connection.rooms.add(room);
      addTo(this.membersByRoom, room, connection);
    }
    return buffered;
  }

  leave(connection: Connection, room: string): boolean {
    if (!connection.rooms.delete(room)) return false;
    removeFrom(this.membersByRoom, room, connection);
    return true;
  }

  /**
   * Fans a delivery out to the room's local members. The WebSocket frame is built once and the
   * same bytes go to every socket. Returns how many sockets it was queued on.
   */
  deliver(delivery: Delivery): number {
    const excluded = delivery.excludeUser;
    const joining = this.joiningByRoom.get(delivery.room);
    if (joining) {
      for (const [connection, buffer] of joining) if (connection.user !== excluded) buffer.push(delivery);
    }
    const members = this.membersByRoom.get(delivery.room);
    if (!members) return 0;
    const frame = new PreparedFrame(delivery.frame);
    if (!(members instanceof Set)) return excluded !== undefined && members.user === excluded ? 0 : Number(members.send(frame));
    let sent = 0;
    for (const connection of members) {
      if (excluded !== undefined && connection.user === excluded) continue;
      if (connection.send(frame)) sent++;
    }
    return sent;
  }

  stats(): { connections: number; rooms: number; joining: number; users: number } {
    return {
      connections: this.connections.size,
      rooms: this.membersByRoom.size,
      joining: this.joiningByRoom.size,
      // Every connection is in its own user's personal room, so that room's entry is the user's.
      users: countKeys(this.membersByRoom, PERSONAL_ROOM_PREFIX),
    };
  }
}

function countKeys(index: Map<string, unknown>, prefix: string): number {
  let count = 0;
  for (const key of index.keys()) if (key.startsWith(prefix)) count++;
  return count;
}

/**
 * One connection, or a Set of several. Most users have one connection and every personal room
 * has one member, and a Set costs ~180 bytes: at 20k idle connections that is megabytes.
 */
type Members = Connection | Set<Connection>;

function addTo(index: Map<string, Members>, key: string, connection: Connection): void {
  const members = index.get(key);
  if (members === undefined) index.set(key, connection);
  else if (members instanceof Set) members.add(connection);
  else if (members !== connection) index.set(key, new Set([members, connection]));
}

function removeFrom(index: Map<string, Members>, key: string, connection: Connection): void {
  const members = index.get(key);
  if (members === connection) index.delete(key);
  else if (members instanceof Set && members.delete(connection) && members.size === 1) index.set(key, members.values().next().value!);
}
