import type { Logger } from '@nestjs/common';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { NodeClient, boundedCall, commandsOn } from './cluster.client';
import type { RedisCommands } from './redis.connection';
import { ReplicaRefusals, ReplicaWaits, replicasListed } from './replica-waits';

/** REDIS_MIN_REPLICAS, REDIS_REPLICA_WAIT_MS and REDIS_COMMAND_TIMEOUT_MS, as the connection settled them. */
export interface ReplicatedWriteSettings {
  minReplicas: number;
  replicaWaitMs: number;
  commandTimeoutMs: number;
}

/**
 * Durable writes on the node client of the primary that owns their key, each followed by WAIT
 * on that same client: the acknowledgement counts the writes of its own connection. Which node a
 * write goes to, and what follows a redirect or a refusal, the connection decides
 * (ClusterRedisConnection.runReplicated).
 */
export class ClusterReplicatedWrites {
  /** Per node client of a primary: its durable writes and their WAITs (ReplicaWaits). */
  private readonly replicaWaits = new WeakMap<NodeClient, ReplicaWaits>();
  /** Per node client: the commands a durable write is given (nodeCommandsOf). */
  private readonly nodeCommands = new WeakMap<NodeClient, RedisCommands>();
  /** One count and one log line for the connection, whichever primaries refuse. */
  private readonly refusals: ReplicaRefusals;

  constructor(
    private readonly settings: ReplicatedWriteSettings,
    logger: Logger,
  ) {
    this.refusals = new ReplicaRefusals(logger, settings.minReplicas);
  }

  /** The write, then WAIT on the same primary, through that primary's ReplicaWaits. */
  write<T>(operation: string, node: NodeClient, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    const write = () => boundedCall(operation, command(this.nodeCommandsOf(node)), this.settings.commandTimeoutMs);
    if (this.settings.minReplicas === 0) return write();
    return this.replicaWaitsOf(node).write(operation, write);
  }

  /** The commands of a node client, made once per client: every durable write goes through one. */
  private nodeCommandsOf(node: NodeClient): RedisCommands {
    let commands = this.nodeCommands.get(node);
    if (!commands) this.nodeCommands.set(node, (commands = commandsOn(node)));
    return commands;
  }

  /**
   * The ReplicaWaits of a node client: by the client, not the address, since WAIT counts the
   * writes of its own connection (a replaced cluster client reaches the same address anew).
   */
  private replicaWaitsOf(node: NodeClient): ReplicaWaits {
    let waits = this.replicaWaits.get(node);
    if (!waits) {
      waits = new ReplicaWaits(
        this.settings.minReplicas,
        () => this.replicasAcknowledging(node),
        this.refusals.refused,
        async () => replicasListed(await boundedCall('ROLE', node.sendCommand<unknown>(['ROLE']), this.settings.commandTimeoutMs)),
      );
      this.replicaWaits.set(node, waits);
    }
    return waits;
  }

  /** WAIT on the node: how many replicas acknowledged this connection's writes within REDIS_REPLICA_WAIT_MS. */
  private async replicasAcknowledging(node: NodeClient): Promise<number> {
    const waitMs = this.settings.replicaWaitMs;
    return Number(await withDeadline(node.sendCommand(['WAIT', String(this.settings.minReplicas), String(waitMs)]), waitMs + this.settings.commandTimeoutMs, () => new DeadlineExpiredError('WAIT', waitMs)));
  }
}
