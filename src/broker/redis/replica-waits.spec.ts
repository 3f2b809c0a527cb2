import { ReplicasUnavailableError } from './redis.connection';
import { ReplicaWaits } from './replica-waits';

/** WAITs answered when the test says, with the number of replicas it says. */
function controlledWaits() {
  const pending: Array<(replicas: number) => void> = [];
  return { pending, sendWait: () => new Promise<number>((resolve) => pending.push(resolve)) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplicaWaits', () => {
  it('acknowledges a write its WAIT covered, and shares one WAIT among the writes answered while another is out', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, waits.sendWait, () => undefined);
    const first = replicas.write('publish', async () => 'a');
    await turn();
    const later = [replicas.write('publish', async () => 'b'), replicas.write('publish', async () => 'c')];
    await turn();
    // Never a second WAIT while one is out: it would hold the connection as long again.
    expect(waits.pending).toHaveLength(1);
    waits.pending[0](1);
    await expect(first).resolves.toBe('a');
    await turn();
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
    await turn();
    waits.pending[0](1);
    await expect(writes[0]).rejects.toBeInstanceOf(ReplicasUnavailableError);
    await turn();
    waits.pending[1](1);
    await expect(writes[1]).rejects.toThrow('1 of 2 replicas acknowledged in time');
    expect(refused).toBe(2);
  });

  it('sends no WAIT for a write that failed, and passes its error on', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, waits.sendWait, () => undefined);
    await expect(replicas.write('publish', async () => Promise.reject(new Error('no connection')))).rejects.toThrow('no connection');
    expect(waits.pending).toHaveLength(0);
  });
});
