import { MemoryEngine } from '../../src/broker/memory/memory.engine';
import { parseSeq } from '../../src/broker/seq';
import { eventually } from '../support/eventually';
import { brokerContract } from './broker.contract';
import { ClusterOptions, EngineHarness } from './engine-harness';
import { inboxStoreContract } from './inbox-store.contract';
import { presenceStoreContract } from './presence-store.contract';

const engines: MemoryEngine[] = [];

function memoryEngine({ historySize = 100, historyTtlS = 600, inboxSize = 200, inboxTtlMs = 30 * 86_400_000 }: ClusterOptions = {}): MemoryEngine {
  const engine = new MemoryEngine({ historySize, historyTtlS, inboxSize, inboxTtlMs });
  engines.push(engine);
  return engine;
}

/** The in-process engine is a cluster of one: every `pod()` of a cluster is the same engine. */
const memoryHarness: EngineHarness = {
  multiPod: false,
  subscribesPersonalRoomsAtOnce: true,
  presenceTtlMs: undefined,
  async cluster(options?: ClusterOptions) {
    const engine = memoryEngine(options);
    return { pod: async () => engine };
  },
  async closeAll() {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
  },
};

describe('MemoryEngine', () => {
  describe('Broker', () => brokerContract(memoryHarness));
  describe('PresenceStore', () => presenceStoreContract(memoryHarness));
  describe('InboxStore', () => inboxStoreContract(memoryHarness));

  describe('what it holds in memory', () => {
    afterEach(() => memoryHarness.closeAll());

    it('holds a room nobody is in, quiet or not, until HISTORY_TTL_S after its last use, and no longer', async () => {
      const { broker } = memoryEngine({ historyTtlS: 1 });
      await broker.subscribe('quiet');
      expect(parseSeq((await broker.history('quiet')).latestSeq!)!.position).toBe(0);
      await broker.unsubscribe('quiet');
      // Its joined seq stays a valid since for the window: the room's epoch is kept.
      expect(broker.retained().historyRooms).toBe(1);
      await broker.publish('chat', 'message', { text: 'm1' }, { dedupKey: 'k1' });
      expect(broker.retained()).toEqual({ historyRooms: 2, dedupKeys: 1 });
      // The sweep runs every HISTORY_TTL_S here (every 30 s at most).
      await eventually(() => expect(broker.retained()).toEqual({ historyRooms: 0, dedupKeys: 0 }), 5000, 100);
    });

    it('holds no presence entry once every connection left', async () => {
      const { presence } = memoryEngine();
      await presence.add('chat', 'alice', 'c1');
      await presence.add('chat', 'alice', 'c2');
      expect(presence.localEntries).toBe(2);
      await presence.remove('chat', 'alice', 'c1');
      await presence.remove('chat', 'alice', 'c2');
      expect(presence.localEntries).toBe(0);
    });
  });
});
