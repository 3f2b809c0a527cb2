import { Broker } from './broker';
import { InboxStore } from './inbox.store';
import { PresenceStore } from './presence.store';

/**
 * One back end behind Herald's three cluster seams (centrifuge's engine): the Broker, the
 * PresenceStore and the InboxStore, sharing whatever connection the store needs. One
 * engine.factory.ts line picks it from the configuration; each lives in its own folder.
 */
export abstract class Engine {
  abstract readonly broker: Broker;
  abstract readonly presence: PresenceStore;
  abstract readonly inbox: InboxStore;

  /** Log fields saying which engine this is and where it stores (never a password). */
  abstract readonly description: Readonly<Record<string, string>>;

  /**
   * Connects every seam before the pod takes traffic; rejects with an EngineConnectError naming
   * the setting and what is wrong (never a password) when it cannot. Later outages never reject
   * here: they show as the broker's `available` false while it reconnects.
   */
  abstract connect(): Promise<void>;

  /**
   * What metrics show of the store's replication: its shards' subscribers, failovers followed,
   * writes refused for lack of replicas. Undefined for an engine without any (memory).
   */
  abstract get health(): EngineHealth | undefined;

  /** Forgets this pod's presence, stops every timer and closes the connections. */
  abstract close(): Promise<void>;
}

/** The engine's store is unreachable or refuses this pod at start-up. */
export class EngineConnectError extends Error {
  /** `setting`: the environment variable that points at the store (for the start-up error). */
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineConnectError';
  }
}

export interface EngineHealth {
  /** Per shard (its primary's address; one for a single primary): whether its subscriber connection is up. */
  shards: Array<{ shard: string; up: boolean }>;
  /** Primary changes this pod has followed (Sentinel switch-master, Cluster primaries changing). */
  failovers: number;
}
