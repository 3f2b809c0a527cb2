import type { RedisConnection } from '../../src/broker/redis/redis.connection';

/**
 * Connects `connection`, subscribes it to `channel` with a listener that throws on the message
 * `unreadable`, and publishes `before`, `unreadable` and `after` in one turn: they reach the
 * subscriber in one read, the rest of which was dropped after a listener threw inside
 * node-redis's reply parser. Answers what the listener took and whether the connection stayed
 * available, once the channel is flushed; closes the connection.
 */
export async function publishPastAThrowingListener(connection: RedisConnection, channel: string): Promise<{ received: string[]; available: boolean }> {
  const received: string[] = [];
  connection.onMessage((message) => {
    if (message === 'unreadable') throw new Error('the listener failed');
    received.push(message);
  });
  try {
    await connection.connect();
    await connection.subscribe(channel);
    await Promise.all(['before', 'unreadable', 'after'].map((message) => connection.run('publish', (redis) => redis.publish(channel, message))));
    await connection.flushChannel(channel);
    return { received, available: connection.available };
  } finally {
    await connection.close();
  }
}
