import { createHash } from 'node:crypto';
import { isPersonalRoom } from '@herald/client/protocol';
import type { InboxKeys } from './inbox.scripts';
import type { PersonalPresenceKeys } from './personal-presence.scripts';
import type { PresenceKeys } from './presence.scripts';

/**
 * How many shards the personal rooms' presence is spread over on a Cluster (personalPresenceRoom),
 * so it is spread over its nodes; one Redis keeps it in one, so a burst of admissions writes its
 * counts in one script per batch window (PersonalPresence). Every pod must agree.
 */
export const PERSONAL_PRESENCE_SHARDS = 16;
const PERSONAL_PRESENCE_PREFIX = 'user:*';

/** What starts a publish id's digest in its key (RedisKeys.publishId). */
const DIGEST_MARK = '#';

/**
 * Every Redis key and channel Herald uses, under REDIS_PREFIX. A room's keys share the hash tag
 * `{<room>}`, so each script touches one slot (Redis Cluster, should it come) and the prefix
 * alone namespaces a deployment. Room names never contain braces (ROOM_NAME_PATTERN).
 */
export class RedisKeys {
  private readonly channelPrefix: string;
  private readonly channelSuffix: string;
  private readonly personalChannelPrefix: string;
  /**
   * The shared channels' names, made once: a personal room's channel is looked up in the pod's
   * subscription maps at every connect and close, and the same string each time is hashed once.
   */
  private readonly personalChannelNames: readonly string[];

  /**
   * `sharded` (Redis Cluster): channels carry the room's hash tag too, so the publish script can
   * SPUBLISH on the node that owns the room's keys. One-node deployments keep the channel names
   * they always had, so a rolling update never splits pods across two names.
   */
  constructor(
    private readonly prefix: string,
    readonly sharded = false,
    /**
     * REDIS_PERSONAL_CHANNELS: how many channels the personal rooms share (0: one channel per
     * user). Always 0 on a Cluster, where the publish script may only SPUBLISH in its room's slot.
     */
    readonly personalChannels = 0,
  ) {
    this.channelPrefix = sharded ? `${prefix}{` : `${prefix}room:`;
    this.channelSuffix = sharded ? '}:channel' : '';
    this.personalChannelPrefix = `${prefix}personal:`;
    this.personalChannelNames = Array.from({ length: personalChannels }, (_, index) => `${this.personalChannelPrefix}${index}`);
    if (sharded && personalChannels > 0) throw new Error('Personal rooms cannot share channels on a Redis Cluster');
  }

  /**
   * List of the room's publications, newest first (room.scripts.ts). Named apart from `:history`,
   * the stream earlier versions kept: pods of both versions can run side by side in a rolling
   * update, each reading only its own, and the stream expires with its TTL.
   */
  history(room: string): string {
    return `${this.prefix}{${room}}:log`;
  }

  /**
   * The stream earlier versions kept the room's history in. Never read; deleted whenever a room
   * starts a new life, so pods of such a version, during a rolling update, never append after
   * or replay a previous life's entries. Can go once no deployment upgrades from those versions.
   */
  legacyHistoryStream(room: string): string {
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

  /**
   * The fingerprint a publish id is bound to (claimPublishId), kept for the history window. The
   * id is the publisher's free text and goes inside a hash tag: one holding a brace would end
   * the tag early and could name another key (`Q}:dedup:X` made this a room's de-duplication
   * marker, and a false 409), so such an id, and one that looks like the stand-in, is replaced
   * by a digest of it. Other ids stay as they are: their keys are the same as before.
   */
  publishId(id: string): string {
    const tagSafe = /[{}]/.test(id) || id.startsWith(DIGEST_MARK) ? `${DIGEST_MARK}${createHash('sha256').update(id).digest('hex')}` : id;
    return `${this.prefix}{publish:${tagSafe}}:fingerprint`;
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

  /** Hash: when a presence script last touched the room, and until when its grace after a stall lasts. */
  presenceClock(room: string): string {
    return `${this.prefix}{${room}}:presence:clock`;
  }

  /** Hash: when each user there was last announced `joined` (PresenceKeys.announced). */
  presenceAnnounced(room: string): string {
    return `${this.prefix}{${room}}:presence:announced`;
  }

  /** Every key of a room's presence entries, as the presence scripts take them. */
  presenceKeys(room: string): PresenceKeys {
    return {
      expiry: this.presenceExpiry(room),
      connections: this.presenceConnections(room),
      users: this.presenceUsers(room),
      clock: this.presenceClock(room),
      announced: this.presenceAnnounced(room),
      departed: `${this.prefix}{${room}}:presence:departed`,
    };
  }

  /**
   * The shard a personal room's presence is kept in (PersonalPresence), with other users': one,
   * or on a Cluster one of PERSONAL_PRESENCE_SHARDS. A name no real room can have (room names have
   * no `*`); earlier versions kept an entry per connection in its ordinary presence keys.
   */
  personalPresenceRoom(room: string): string {
    return this.sharded ? `${PERSONAL_PRESENCE_PREFIX}${hashOf(room) % PERSONAL_PRESENCE_SHARDS}` : PERSONAL_PRESENCE_PREFIX;
  }

  /**
   * The personal rooms' presence as pods keep it now (PersonalPresence): per shard (a name
   * personalPresenceRoom gives), a sorted set of the pods counting users there, scored by when each
   * pod's counts expire (Redis time, ms), and per pod a hash user -> that pod's connections.
   * Pods of earlier versions kept an entry per connection in the shard's ordinary presence keys
   * (presenceExpiry and the rest, of the room personalPresenceRoom names), which the presence API
   * still reads during a rolling update and which expire once no such pod refreshes them.
   */
  personalPresenceKeys(shard: string, podId: string): PersonalPresenceKeys {
    const podCountsPrefix = `${this.prefix}{${shard}}:presence:pod:`;
    return { pods: `${this.prefix}{${shard}}:presence:pods`, podCounts: podCountsPrefix + podId, podCountsPrefix, shard, earlier: this.presenceKeys(shard) };
  }

  /** A user's inbox: a list of notifications, newest first; shares the personal room's hash tag. */
  inbox(user: string): string {
    return `${this.prefix}{user:${user}}:inbox`;
  }

  /** Ids of the user's inbox items that were marked read. */
  inboxRead(user: string): string {
    return `${this.prefix}{user:${user}}:inbox:read`;
  }

  /** The inbox's index: each item's time, seq and id, in the items' order, without their bodies. */
  inboxIndex(user: string): string {
    return `${this.prefix}{user:${user}}:inbox:index`;
  }

  /** Every key of a user's inbox, as the inbox scripts and the publish script take them. */
  inboxKeys(user: string): InboxKeys {
    return { items: this.inbox(user), read: this.inboxRead(user), index: this.inboxIndex(user) };
  }

  /**
   * The room's Pub/Sub channel: publications and ephemeral broadcasts. With personalChannels,
   * a personal room shares one of that many channels with other users' (see isShared), so a
   * pod subscribes a handful of channels instead of one per connected user.
   */
  channel(room: string): string {
    if (this.personalChannels > 0 && isPersonalRoom(room)) return this.personalChannelNames[hashOf(room) % this.personalChannels];
    return this.channelPrefix + room + this.channelSuffix;
  }

  /**
   * Whether a channel carries several rooms: its messages then start with `@<room>\n`
   * (sharedMessagePrefix), and a pod follows it while any of its rooms has a member here.
   */
  isShared(channel: string): boolean {
    return this.personalChannels > 0 && channel.startsWith(this.personalChannelPrefix);
  }

  /** What a message on the room's channel starts with: the room's name when the channel is shared. */
  sharedMessagePrefix(room: string, channel: string): string {
    return this.isShared(channel) ? `@${room}\n` : '';
  }

  roomOf(channel: string): string | undefined {
    if (!channel.startsWith(this.channelPrefix) || !channel.endsWith(this.channelSuffix)) return undefined;
    return channel.slice(this.channelPrefix.length, channel.length - this.channelSuffix.length);
  }

  /** The pub/sub flavour the scripts use: sharded (SPUBLISH, SHARDNUMSUB) on a Cluster. */
  get pubsub(): 'classic' | 'sharded' {
    return this.sharded ? 'sharded' : 'classic';
  }
}

/**
 * FNV-1a, 32 bits: spreads personal rooms over the shared channels the same way on every pod
 * (and in every version: changing it splits pods during a rolling update).
 */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
