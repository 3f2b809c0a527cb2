/**
 * A notification's body for each of its rooms, as JSON, with the payload serialized once: the
 * bodies differ only in `room`. Serialized per room, a 64 KB payload to 1,000 users cost the
 * pod 64 MB of JSON.stringify work and strings per request, and a batch of eight such held
 * 430 MB of heap until Redis had taken them. Each body reads exactly as
 * JSON.stringify({id, room, type, payload, timestamp}) writes it (property-tested).
 */
export class NotificationBodies {
  private readonly head: string;
  private readonly tail: string;

  constructor(id: string, type: string, payload: Record<string, unknown>, timestamp: string) {
    this.head = `{"id":${JSON.stringify(id)},"room":`;
    this.tail = `,"type":${JSON.stringify(type)},"payload":${JSON.stringify(payload)},"timestamp":${JSON.stringify(timestamp)}}`;
  }

  of(room: string): string {
    return this.head + JSON.stringify(room) + this.tail;
  }
}
