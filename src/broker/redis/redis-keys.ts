/**
 * Every Redis key and channel Herald uses, under REDIS_PREFIX. A room's keys share the hash tag
 * `{<room>}`, so each script touches one slot (Redis Cluster, should it come) and the prefix
 * alone namespaces a deployment. Room names never contain braces (ROOM_NAME_PATTERN).
 */
export class RedisKeys {
  private readonly channelPrefix: string;

  constructor(private readonly prefix: string) {
    this.channelPrefix = `${prefix}room:`;
  }

  /** Stream of the room's publications; entry id `<position>-0`. */
  history(room: string): string {
    return `${this.prefix}{${room}}:history`;
  }

  /** Hash `{epoch, position}`: the room's current history life and its latest position. */
  meta(room: string): string {
    return `${this.prefix}{${room}}:meta`;
  }

  /** Publish-id de-duplication marker, kept for the history window. */
  dedup(room: string, dedupKey: string): string {
    return `${this.prefix}{${room}}:dedup:${dedupKey}`;
  }

  /** The fingerprint a publish id is bound to (claimPublishId), kept for the history window. */
  publishId(id: string): string {
    return `${this.prefix}{publish:${id}}:fingerprint`;
  }

  /** Sorted set of connection ids, scored by when their entry expires (Redis time, ms). */
  presenceExpiry(room: string): string {
    return `${this.prefix}{${room}}:presence:expiry`;
  }

  /** Hash connection id -> user. */
  presenceConnections(room: string): string {
    return `${this.prefix}{${room}}:presence:connections`;
  }

  /** Hash user -> number of live connections. */
  presenceUsers(room: string): string {
    return `${this.prefix}{${room}}:presence:users`;
  }

  /** A user's inbox: a list of notifications, newest first; shares the personal room's hash tag. */
  inbox(user: string): string {
    return `${this.prefix}{user:${user}}:inbox`;
  }

  /** Ids of the user's inbox items that were marked read. */
  inboxRead(user: string): string {
    return `${this.prefix}{user:${user}}:inbox:read`;
  }

  /** The room's Pub/Sub channel: publications and ephemeral broadcasts. */
  channel(room: string): string {
    return this.channelPrefix + room;
  }

  roomOf(channel: string): string | undefined {
    return channel.startsWith(this.channelPrefix) ? channel.slice(this.channelPrefix.length) : undefined;
  }
}
