import { ReplicasMissingError, ReplicasUnavailableError } from './redis.connection';
import { ReplicaWaits } from './replica-waits';

/** A WAIT answered when the test says, with the number of replicas it says. */
function controlledWaits() {
  const pending: Array<(replicas: number) => void> = [];
  return { pending, sendWait: () => new Promise<number>((resolve) => pending.push(resolve)) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplicaWaits', () => {
  let nowMs: number;
  beforeEach(() => (nowMs = 1_000));

  it('acknowledges a write its WAIT covered, and shares one WAIT among the writes answered while another is out', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, 1000, waits.sendWait, () => nowMs);
    const first = replicas.write('publish', async () => 'a');
    await turn();
    const later = [replicas.write('publish', async () => 'b'), replicas.write('publish', async () => 'c')];
    await turn();
    expect(waits.pending).toHaveLength(1);
    waits.pending[0](1);
    await expect(first).resolves.toBe('a');
    await turn();
    // One more WAIT for both writes answered after the first was sent.
    expect(waits.pending).toHaveLength(2);
    waits.pending[1](1);
    await expect(Promise.all(later)).resolves.toEqual(['b', 'c']);
  });

  it('after a short WAIT refuses writes unwritten, but for one probe per wait period, until a probe is acknowledged', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, 1000, waits.sendWait, () => nowMs);
    const short = replicas.write('publish', async () => 'a');
    await turn();
    waits.pending[0](0);
    await expect(short).rejects.toBeInstanceOf(ReplicasUnavailableError);
    expect(replicas.isShut).toBe(true);

    const written: string[] = [];
    const write = (name: string) => replicas.write('publish', async () => (written.push(name), name));
    await expect(write('refused')).rejects.toBeInstanceOf(ReplicasMissingError);
    nowMs += 1000;
    const probe = write('probe');
    await expect(write('beside the probe')).rejects.toBeInstanceOf(ReplicasMissingError);
    await turn();
    waits.pending[1](1);
    await expect(probe).resolves.toBe('probe');
    expect(replicas.isShut).toBe(false);
    expect(written).toEqual(['probe']);
    expect(replicas.refused).toBe(3);
  });

  it('takes a write or WAIT that failed otherwise as saying nothing of the replicas', async () => {
    const waits = controlledWaits();
    const replicas = new ReplicaWaits(1, 1000, waits.sendWait, () => nowMs);
    await expect(replicas.write('publish', async () => Promise.reject(new Error('no connection')))).rejects.toThrow('no connection');
    expect(replicas.isShut).toBe(false);
    expect(waits.pending).toHaveLength(0);
  });
});
