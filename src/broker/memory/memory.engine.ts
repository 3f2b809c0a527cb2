import { HeraldConfig } from '../../config/herald.config';
import { Engine } from '../engine';
import { MemoryBroker } from './memory.broker';
import { MemoryInboxStore } from './memory.inbox-store';
import { MemoryPresenceStore } from './memory.presence-store';

export interface MemoryEngineOptions {
  historySize: number;
  historyTtlS: number;
  inboxSize: number;
  inboxTtlMs: number;
  /** INBOX_MEMORY_MAX_MB in bytes; unbounded when omitted. */
  inboxMemoryMaxBytes?: number;
  /** INBOX_PAGE_MAX_BYTES; unbounded when omitted. */
  inboxPageMaxBytes?: number;
  /** HISTORY_MEMORY_MAX_MB in bytes; unbounded when omitted. */
  historyMemoryMaxBytes?: number;
}

/** The in-process engine: one pod, nothing to reach, the default when REDIS_URL is not set. */
export class MemoryEngine extends Engine {
  readonly broker: MemoryBroker;
  // Told in the step of each change, behind what the broker queued before it.
  readonly presence = new MemoryPresenceStore((room, frame, excludeUser) => this.broker.broadcastNow(room, frame, excludeUser));
  readonly inbox: MemoryInboxStore;
  readonly description = { engine: 'memory' };
  /** One process: nothing to replicate, no shards. */
  readonly health = undefined;

  constructor(options: MemoryEngineOptions) {
    super();
    const inboxOptions = { inboxSize: options.inboxSize, inboxTtlMs: options.inboxTtlMs, memoryMaxBytes: options.inboxMemoryMaxBytes, pageMaxBytes: options.inboxPageMaxBytes };
    this.inbox = new MemoryInboxStore(inboxOptions, (room, frame) => this.broker.broadcastNow(room, frame));
    this.broker = new MemoryBroker(options, this.inbox);
  }

  static fromConfig(config: HeraldConfig): MemoryEngine {
    return new MemoryEngine({
      historySize: config.historySize,
      historyTtlS: config.historyTtlS,
      inboxSize: config.inboxSize,
      inboxTtlMs: config.inboxTtlDays * 86_400_000,
      inboxMemoryMaxBytes: config.inboxMemoryMaxBytes,
      inboxPageMaxBytes: config.inboxPageMaxBytes,
      historyMemoryMaxBytes: config.historyMemoryMaxBytes,
    });
  }

  async connect(): Promise<void> {
    // In-process: nothing to reach.
  }

  async close(): Promise<void> {
    this.presence.close();
    this.inbox.close();
    await this.broker.close();
  }
}
