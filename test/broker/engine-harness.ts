import { Engine } from '../../src/broker/engine';

export interface ClusterOptions {
  historySize?: number;
  historyTtlS?: number;
  inboxSize?: number;
  inboxTtlMs?: number;
}

export interface PodOptions {
  /** Stands for a pod that died without cleaning up: it never refreshes its presence. */
  crashed?: boolean;
}

/**
 * Engines that share one cluster (one Redis prefix): each call to `pod()` is another pod, or,
 * for an engine that cannot have several pods, the same one again.
 */
export interface EngineCluster {
  pod(options?: PodOptions): Promise<Engine>;
}

/** What every contract suite (broker, presence store, inbox store) runs against. */
export interface EngineHarness {
  /** A fresh cluster, isolated from every other test. */
  cluster(options?: ClusterOptions): Promise<EngineCluster>;
  /** Whether a cluster can have several pods (false for the in-process engine). */
  multiPod: boolean;
  /**
   * Whether a pod that holds every channel personal rooms share subscribes another personal room
   * in the same turn (Broker.subscribeNow): in process, and on Redis but a Cluster, whose
   * personal rooms have channels of their own.
   */
  readonly subscribesPersonalRoomsAtOnce: boolean;
  /** How long a dead pod's presence outlives it; undefined when pods never die apart (one pod). */
  presenceTtlMs: number | undefined;
  /** Stops every engine the harness made. */
  closeAll(): Promise<void>;
}
