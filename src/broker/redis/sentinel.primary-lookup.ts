import { ErrorReply } from 'redis';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { PrimaryVotes } from './primary-votes';
import { type PlainRedisClient, describeError, destroyClient } from './redis.client';
import { SentinelAccess, SentinelAddress, sentinelClient, serverAddress, serverClient } from './sentinel.clients';

/** What the lookup reads of the connection it serves. */
export interface LookingConnection {
  closed(): boolean;
  /** Whether this pod serves from `server` now and it answers: its ROLE would say no more. */
  servesFrom(server: string): boolean;
}

/**
 * Asks the sentinels which server is the primary, and a server what it says it is (ROLE), each
 * on clients of their own, connected for one question and destroyed after. The clients of each
 * look under way are kept, to destroy when it settles or the connection closes (close).
 */
export class SentinelPrimaryLookup {
  /** The clients of each look for the primary under way (resolve), to destroy when it settles or this closes. */
  private readonly looks = new Set<Set<PlainRedisClient>>();

  constructor(
    private readonly access: SentinelAccess,
    private readonly connection: LookingConnection,
  ) {}

  /** Drops every question still open. */
  close(): void {
    for (const look of this.looks) for (const client of look) destroyClient(client);
  }

  /**
   * `host:port` of the primary: the server most sentinels name, once its ROLE says it is primary
   * (Sentinel's client guidelines: ask, then check ROLE; weighed in PrimaryVotes). A sentinel that
   * has not caught up with a failover names the old primary: down or now a replica, it is passed
   * over; cut off with a minority and still taking writes, it is outvoted. Taken as the first
   * answer that checked out, that old primary held this pod, and the current server taken without
   * a vote kept it there, while the other pods served from the new one. The server this pod serves
   * from, while it answers, is not asked its ROLE again, but needs the votes all the same.
   *
   * Every sentinel is asked at once, and a strict majority naming one server that checks out
   * settles the look: asked in turn, a sentinel that takes connections but never answers (a frozen
   * process, a black-holed host) held each look for REDIS_COMMAND_TIMEOUT_MS before the next was
   * asked, at start and while following a failover. Without such a majority the look waits for
   * every answer (each within REDIS_COMMAND_TIMEOUT_MS). Once a look is settled, its questions
   * still open are dropped.
   */
  resolve(): Promise<string> {
    const look = new Set<PlainRedisClient>();
    this.looks.add(look);
    const { sentinels, masterName } = this.access;
    const votes = new PrimaryVotes(sentinels.map(({ host, port }) => `${host}:${port}`));
    /** Each server is asked once per look: several sentinels naming one that is down cost one connect timeout. */
    const checked = new Set<string>();
    const answer = new Promise<string>((resolve, reject) => {
      const settle = () => {
        const outcome = votes.outcome();
        if (outcome === undefined) return;
        // Failures in the sentinels' order, whichever answered first, so the start's error reads the same every time.
        if ('primary' in outcome) resolve(outcome.primary);
        else reject(new NoPrimaryNamedError(outcome.failures, outcome.failures.every((failure) => failure.endsWith(` does not know ${masterName}`))));
      };
      const check = (server: string) => {
        if (checked.has(server)) return;
        checked.add(server);
        // It answers this pod's commands: a ROLE of its own would say no more.
        if (this.connection.servesFrom(server)) return votes.confirmed(server);
        void this.roleOf(server, look).then((role) => {
          if (role === 'master' || role === undefined) votes.confirmed(server);
          else votes.refuted(server, role);
          settle();
        });
      };
      sentinels.forEach((sentinel, index) => {
        const where = `${sentinel.host}:${sentinel.port}`;
        this.primaryNamedBy(sentinel, look).then(
          (named) => {
            if (named === null) votes.failed(index, `${where} does not know ${masterName}`);
            else {
              votes.named(index, named);
              check(named);
            }
            settle();
          },
          (error: unknown) => {
            votes.failed(index, `${where}: ${describeError(error)}`);
            settle();
          },
        );
      });
    });
    return answer.finally(() => {
      this.looks.delete(look);
      for (const client of look) destroyClient(client);
    });
  }

  /** Whether `address` says it is a primary (or may not say: see roleOf), asked on a connection of its own. */
  async saysPrimary(address: string): Promise<boolean> {
    const look = new Set<PlainRedisClient>();
    this.looks.add(look);
    try {
      const role = await this.roleOf(address, look);
      return role === 'master' || role === undefined;
    } finally {
      this.looks.delete(look);
      for (const client of look) destroyClient(client);
    }
  }

  /** The address one sentinel gives for the primary, or null when it does not know it. */
  private async primaryNamedBy(sentinel: SentinelAddress, look: Set<PlainRedisClient>): Promise<string | null> {
    const reply = await this.askOnce<[string, string] | null>(sentinelClient(this.access, sentinel), ['SENTINEL', 'get-master-addr-by-name', this.access.masterName], look);
    return reply && reply.length === 2 ? serverAddress(reply[0], reply[1]) : null;
  }

  /**
   * What a server says it is (ROLE: `master`, `slave`), `unreachable` when it does not answer
   * in time, or undefined when it answers with an error (an ACL user that may not run ROLE): then
   * the sentinel is believed, as before this check. Never rejected: its look waits for it.
   */
  private async roleOf(address: string, look: Set<PlainRedisClient>): Promise<string | undefined> {
    try {
      const client = serverClient(this.access, address);
      return String((await this.askOnce<unknown[]>(client, ['ROLE'], look))[0]);
    } catch (error) {
      return error instanceof ErrorReply ? undefined : `unreachable (${describeError(error)})`;
    }
  }

  /**
   * One command on a client of its own, connected for it and destroyed after, each step within
   * REDIS_COMMAND_TIMEOUT_MS. The client belongs to its look until then, which destroys it when
   * settled first, as close() does.
   */
  private async askOnce<T>(client: PlainRedisClient, command: string[], look: Set<PlainRedisClient>): Promise<T> {
    const timeoutMs = this.access.commandTimeoutMs;
    client.on('error', () => undefined); // Reported through the failed connect or command below.
    // A look settled (or a connection closed) meanwhile opens nothing more.
    if (this.connection.closed() || !this.looks.has(look)) throw new Error('no longer needed: the look for the primary is over');
    look.add(client);
    try {
      await withDeadline(client.connect(), timeoutMs, () => new DeadlineExpiredError(`connect for ${command[0]}`, timeoutMs));
      return await withDeadline(client.sendCommand<T>(command), timeoutMs, () => new DeadlineExpiredError(command.slice(0, 2).join(' '), timeoutMs));
    } finally {
      look.delete(client);
      destroyClient(client);
    }
  }
}

/** No sentinel named a primary that checks out; `unknownToAll`: each answered that it does not know the name. */
export class NoPrimaryNamedError extends Error {
  constructor(
    failures: string[],
    readonly unknownToAll: boolean,
  ) {
    super(failures.join('; '));
    this.name = 'NoPrimaryNamedError';
  }
}
