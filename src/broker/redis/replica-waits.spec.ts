import { ReplicasUnavailableError } from './redis.connection';
import type { Logger } from '@nestjs/common';
import { ReplicaRefusals, ReplicaWaits, replicasListed } from './replica-waits';

/** WAITs answered when the test says, with the number of replicas it says. */
function controlledWaits() {
  const pending: Array<(replicas: number) => void> = [];
  return { pending, sendWait: () => new Promise<number>((resolve) => pending.push(resolve)) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
/** Until what was scheduled has run: the WAIT is sent in the check phase after the writes' turn. */
const settle = async () => {
  for (let i = 0; i < 3; i++) await turn();
};

describe('ReplicaWaits', () => {
  it('acknowledges a write its WAIT covered, and shares one WAIT among the writes answered while another is out', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, waits.sendWait, () => undefined);
    const first = replicas.write('publish', async () => 'a');
    await settle();
    const later = [replicas.write('publish', async () => 'b'), replicas.write('publish', async () => 'c')];
    await settle();
    // Never a second WAIT while one is out: it would hold the connection as long again.
    expect(waits.pending).toHaveLength(1);
    waits.pending[0](1);
    await expect(first).resolves.toBe('a');
    await settle();
    // One more WAIT for both writes answered after the first was sent.
    expect(waits.pending).toHaveLength(2);
    waits.pending[1](1);
    await expect(Promise.all(later)).resolves.toEqual(['b', 'c']);
  });

  it('refuses every write its WAIT found short of replicas, counting each', async () => {
    const waits = controlledWaits();
    let refused = 0;
    const replicas = new ReplicaWaits(2, waits.sendWait, () => refused++);
    const writes = [replicas.write('publish', async () => 'a'), replicas.write('publish', async () => 'b')];
    await settle();
    // Answered in one turn, both wait on one WAIT.
    expect(waits.pending).toHaveLength(1);
    waits.pending[0](1);
    await expect(writes[0]).rejects.toBeInstanceOf(ReplicasUnavailableError);
    await expect(writes[1]).rejects.toThrow('1 of 2 replicas acknowledged in time');
    expect(refused).toBe(2);
  });

  it('sends no WAIT for a write that failed, and passes its error on', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, waits.sendWait, () => undefined);
    await expect(replicas.write('publish', async () => Promise.reject(new Error('no connection')))).rejects.toThrow('no connection');
    expect(waits.pending).toHaveLength(0);
  });

  it('covers with one WAIT every write answered in the same read, and answers each within two waits while writes keep coming', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, waits.sendWait, () => undefined);
    // Three writes answered in one read: one WAIT, sent after all three.
    const firstRead = ['a', 'b', 'c'].map((reply) => replicas.write('publish', async () => reply));
    await settle();
    expect(waits.pending).toHaveLength(1);
    // Writes keep coming while it is out; none is left for a WAIT beyond the next.
    const secondRead = ['d', 'e'].map((reply) => replicas.write('publish', async () => reply));
    await settle();
    waits.pending[0](1);
    const thirdRead = ['f'].map((reply) => replicas.write('publish', async () => reply));
    await expect(Promise.all(firstRead)).resolves.toEqual(['a', 'b', 'c']);
    await settle();
    expect(waits.pending).toHaveLength(2);
    waits.pending[1](1);
    await expect(Promise.all([...secondRead, ...thirdRead])).resolves.toEqual(['d', 'e', 'f']);
    expect(waits.pending).toHaveLength(2);
  });
});

describe('ReplicaWaits with a primary short of replicas', () => {
  it('asks ROLE first, and after a WAIT came back short, and sends no WAIT while fewer replicas are connected than wanted', async () => {
    let waits = 0;
    let connected: number | Error = 0;
    const roles: number[] = [];
    const replicas = new ReplicaWaits(
      1,
      async () => {
        waits++;
        return typeof connected === 'number' ? Math.min(connected, 1) : 0;
      },
      () => undefined,
      async () => {
        roles.push(waits);
        if (connected instanceof Error) throw connected;
        return connected;
      },
    );
    // ROLE answers first, and the connection is not held for a WAIT that cannot be met.
    await expect(replicas.write('publish', async () => 'a')).rejects.toThrow('0 of 1 replicas');
    await expect(replicas.write('publish', async () => 'b')).rejects.toThrow('0 of 1 replicas');
    expect([waits, roles.length]).toEqual([0, 2]);
    // A ROLE that fails leaves it to WAIT.
    connected = new Error('NOPERM');
    await expect(replicas.write('publish', async () => 'c')).rejects.toThrow('0 of 1 replicas');
    expect(waits).toBe(1);
    // A replica back: ROLE lists it, WAIT counts its acknowledgement, and the next write goes straight to WAIT.
    connected = 1;
    await expect(replicas.write('publish', async () => 'd')).resolves.toBe('d');
    await expect(replicas.write('publish', async () => 'e')).resolves.toBe('e');
    expect([waits, roles.length]).toEqual([3, 4]);
    // A WAIT that comes back short again: ROLE before the next.
    connected = 0;
    await expect(replicas.write('publish', async () => 'f')).rejects.toThrow('0 of 1 replicas');
    await expect(replicas.write('publish', async () => 'g')).rejects.toThrow('0 of 1 replicas');
    expect([waits, roles.length]).toEqual([4, 5]);
  });

  it('reads the replicas a primary lists from ROLE, and nothing from a replica or an odd reply', () => {
    expect(replicasListed(['master', 3129659, [['127.0.0.1', '9001', '3129242'], ['127.0.0.1', '9002', '3129543']]])).toBe(2);
    expect(replicasListed(['master', 0, []])).toBe(0);
    expect(replicasListed(['slave', '127.0.0.1', 9000, 'connected', 3167038])).toBeUndefined();
    expect(replicasListed('master')).toBeUndefined();
  });
});

describe('ReplicaRefusals', () => {
  it('warns at the first refused write, then at most every 10 s with how many were refused since, and counts them all', () => {
    const lines: Array<Record<string, unknown>> = [];
    let nowMs = 1_000_000;
    const log = new ReplicaRefusals({ warn: (line: Record<string, unknown>) => lines.push(line) } as unknown as Logger, 2, () => nowMs);
    log.refused(0);
    expect(lines).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Publishes answered 503: fewer replicas .* than REDIS_MIN_REPLICAS/), replicas: 0, minReplicas: 2, refused: 1 })]);
    for (let i = 0; i < 5; i++) {
      nowMs += 1000;
      log.refused(1);
    }
    expect(lines).toHaveLength(1);
    nowMs += 5000;
    log.refused(1);
    expect(lines[1]).toMatchObject({ replicas: 1, minReplicas: 2, refused: 6 });
  });
});

