import { Broker } from '../broker/broker';
import { RefCountedSubscriptions } from './ref-counted-subscriptions';

/** A broker that records subscribe and unsubscribe calls; `failNext` makes the next subscribe fail. */
function recordingBroker() {
  const calls: string[] = [];
  const state = { failNext: false };
  const broker = {
    subscribe: jest.fn(async (room: string) => {
      calls.push(`subscribe ${room}`);
      if (state.failNext) {
        state.failNext = false;
        throw new Error('broker down');
      }
    }),
    unsubscribe: jest.fn(async (room: string) => {
      calls.push(`unsubscribe ${room}`);
    }),
  } as unknown as Broker;
  return { broker, calls, state };
}

/** Lets every queued operation run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RefCountedSubscriptions', () => {
  it('subscribes a room once for any number of holders and unsubscribes after the last release', async () => {
    const { broker, calls } = recordingBroker();
    const subscriptions = new RefCountedSubscriptions(broker);
    await Promise.all([subscriptions.acquire('a'), subscriptions.acquire('a'), subscriptions.acquire('b')]);
    expect(subscriptions.size).toBe(2);
    subscriptions.release('a');
    await settle();
    expect(calls).toEqual(['subscribe a', 'subscribe b']);
    subscriptions.release('a');
    subscriptions.release('b');
    await settle();
    expect(calls).toEqual(['subscribe a', 'subscribe b', 'unsubscribe a', 'unsubscribe b']);
    expect(subscriptions.size).toBe(0);
  });

  it('keeps a room subscribed when it is acquired again before its unsubscribe ran', async () => {
    const { broker, calls } = recordingBroker();
    const subscriptions = new RefCountedSubscriptions(broker);
    await subscriptions.acquire('a');
    subscriptions.release('a');
    await subscriptions.acquire('a');
    expect(calls).toEqual(['subscribe a']);
    expect(subscriptions.size).toBe(1);
  });

  it('subscribes again after a release that unsubscribed', async () => {
    const { broker, calls } = recordingBroker();
    const subscriptions = new RefCountedSubscriptions(broker);
    await subscriptions.acquire('a');
    subscriptions.release('a');
    await settle();
    await subscriptions.acquire('a');
    expect(calls).toEqual(['subscribe a', 'unsubscribe a', 'subscribe a']);
  });

  it('keeps the hold of a failed subscribe until it is released, and never unsubscribes what it never subscribed', async () => {
    const { broker, calls, state } = recordingBroker();
    const subscriptions = new RefCountedSubscriptions(broker);
    state.failNext = true;
    await expect(subscriptions.acquire('a')).rejects.toThrow('broker down');
    expect(subscriptions.size).toBe(1);
    subscriptions.release('a');
    await settle();
    expect(calls).toEqual(['subscribe a']);
    expect(subscriptions.size).toBe(0);
    await subscriptions.acquire('a');
    expect(calls).toEqual(['subscribe a', 'subscribe a']);
  });
});
