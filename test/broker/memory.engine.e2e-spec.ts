import { MemoryBroker } from '../../src/broker/memory/memory.broker';
import { BrokerHarness, ClusterOptions, brokerContract } from './broker.contract';

const brokers: MemoryBroker[] = [];

/** The in-process broker is a cluster of one: every `pod()` of a cluster is the same broker. */
const memoryHarness: BrokerHarness = {
  multiPod: false,
  async cluster({ historySize = 100, historyTtlS = 600 }: ClusterOptions = {}) {
    const broker = new MemoryBroker({ historySize, historyTtlS, inboxSize: 200, inboxTtlDays: 30 });
    brokers.push(broker);
    return { pod: async () => broker };
  },
  async closeAll() {
    await Promise.all(brokers.splice(0).map((broker) => broker.close()));
  },
};

describe('MemoryBroker', () => {
  brokerContract(memoryHarness);
});
