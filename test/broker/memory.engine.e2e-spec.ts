import { MemoryEngine } from '../../src/broker/memory/memory.engine';
import { parseSeq } from '../../src/broker/seq';
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

    it('drops a quiet room once unsubscribed, and a room with history only after HISTORY_TTL_S', async () => {
      const { broker } = memoryEngine({ historyTtlS: 1 });
      await broker.subscribe('quiet');
      expect(parseSeq((await broker.history('quiet')).latestSeq!)!.position).toBe(0);
      await broker.unsubscribe('quiet');
      expect(broker.retained().historyRooms).toBe(0);
      await broker.publish('chat', 'message', { text: 'm1' }, { dedupKey: 'k1' });
      expect(broker.retained()).toEqual({ historyRooms: 1, dedupKeys: 1 });
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
