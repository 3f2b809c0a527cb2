import { HeraldConfig } from '../config/herald.config';
import { Engine } from './engine';
import { MemoryEngine } from './memory/memory.engine';
import { RedisEngine } from './redis/redis.engine';

/**
 * The one place the engine is chosen: Redis when REDIS_URL is set, the in-process one
 * otherwise. A new engine is a folder next to memory/ and redis/ and one line here.
 */
export function createEngine(config: HeraldConfig): Engine {
  if (config.redisUrl) return RedisEngine.fromConfig(config);
  return MemoryEngine.fromConfig(config);
}
