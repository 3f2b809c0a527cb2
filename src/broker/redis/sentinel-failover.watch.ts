import { Logger } from '@nestjs/common';
import { type PlainRedisClient, describeError, destroyClient } from './redis.client';

type SentinelClient = PlainRedisClient;

/**
 * Failovers of one primary as the sentinel leading them tells them: `+selected-slave` starts one
 * (the replica to promote is chosen), `+failover-end` or a `-failover-abort-*` ends it. Only the
 * leader says so, and any sentinel may lead, so every sentinel is listened to.
 *
 * Why: a planned `SENTINEL FAILOVER` detaches the replica it promotes while the old primary still
 * takes writes, and that primary's other replicas acknowledge them (WAIT) before they resync from
 * the new primary and lose them. A publish answered 202 in that instant was gone from history and
 * inbox. While a switch is under way (`switching`) writes are refused, and a write that was
 * waiting for its replicas when one began (`generation` moved on) is not acknowledged.
 */
export class SentinelFailoverWatch {
  private readonly logger = new Logger(SentinelFailoverWatch.name);
  private readonly clients: SentinelClient[] = [];
  private switchTimer: NodeJS.Timeout | undefined;
  private switchingNow = false;
  private started = 0;

  constructor(
    private readonly masterName: string,
    /** The longest a switch is taken to last when no sentinel says it ended (a missed event). */
    private readonly maxSwitchMs: number,
  ) {}

  /** Whether a failover of the primary is under way. */
  get switching(): boolean {
    return this.switchingNow;
  }

  /** How many failovers began so far: a write that saw it change may have been acknowledged by a replica about to resync. */
  get generation(): number {
    return this.started;
  }

  /** Listens on each sentinel client given (connected here, reconnecting by itself). */
  watch(clients: SentinelClient[]): void {
    for (const client of clients) {
      this.clients.push(client);
      client.on('error', (error: Error) => this.logger.debug({ message: 'Sentinel failover watch connection error', error: describeError(error) }));
      client
        .connect()
        .then(async () => {
          await client.subscribe('+selected-slave', (message) => this.onEvent(message, true));
          await client.subscribe('+failover-end', (message) => this.onEvent(message, false));
          await client.pSubscribe('-failover-abort-*', (message) => this.onEvent(message, false));
        })
        .catch((error: unknown) => this.logger.debug({ message: 'Sentinel failover watch could not subscribe', error: describeError(error) }));
    }
  }

  /** The pod follows the new primary (`+switch-master`): the switch is over for it. */
  ended(): void {
    clearTimeout(this.switchTimer);
    this.switchingNow = false;
  }

  close(): void {
    clearTimeout(this.switchTimer);
    for (const client of this.clients.splice(0)) if (client.isOpen) destroyClient(client);
  }

  private onEvent(message: string, starts: boolean): void {
    if (masterNameOf(message) !== this.masterName) return;
    if (!starts) return this.ended();
    this.started++;
    this.switchingNow = true;
    this.logger.warn({ message: 'A sentinel is switching the Redis primary; publishes are refused until it is done', master: this.masterName });
    clearTimeout(this.switchTimer);
    this.switchTimer = setTimeout(() => this.ended(), this.maxSwitchMs);
    this.switchTimer.unref();
  }
}

/**
 * The master an event is about: `master <name> <ip> <port>` (failover end, aborts), or
 * `<type> <name> <ip> <port> @ <master name> <ip> <port>` (an event about a replica).
 */
export function masterNameOf(message: string): string | undefined {
  const parts = message.split(' ');
  const at = parts.indexOf('@');
  return at >= 0 ? parts[at + 1] : parts[0] === 'master' ? parts[1] : undefined;
}
