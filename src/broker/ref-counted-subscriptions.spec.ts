import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
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

  describe('close', () => {
    // Only the burst log's timer is faked: settle() waits on setImmediate.
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => {
      jest.useRealTimers();
      jest.restoreAllMocks();
    });

    /** A broker whose unsubscribes wait until the test fails them all, as a silent Redis's do until the connection closes. */
    function silentBroker() {
      const failures: Array<() => void> = [];
      const broker = {
        subscribe: async () => undefined,
        unsubscribe: () => new Promise<void>((_, reject) => failures.push(() => reject(new Error('connection closed')))),
      } as unknown as Broker;
      return { broker, failAll: () => failures.splice(0).forEach((fail) => fail()) };
    }

    it('writes the burst of failed unsubscribes gathered so far, and leaves no timer', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const { broker, failAll } = silentBroker();
      const subscriptions = new RefCountedSubscriptions(broker);
      for (const room of ['a', 'b']) await subscriptions.acquire(room);
      for (const room of ['a', 'b']) subscriptions.release(room);
      await settle();
      failAll();
      await settle();
      // Gathered, its line waiting for the end of the burst's second.
      expect(warn).not.toHaveBeenCalled();
      await subscriptions.close();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ message: 'Unsubscribe failed', rooms: 2, examples: ['a', 'b'] }));
      expect(jest.getTimerCount()).toBe(0);
    });

    it('waits for the unsubscribes under way, then writes their failures in one line, and leaves no timer', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const { broker, failAll } = silentBroker();
      const subscriptions = new RefCountedSubscriptions(broker);
      for (const room of ['a', 'b', 'c']) await subscriptions.acquire(room);
      for (const room of ['a', 'b', 'c']) subscriptions.release(room);
      await settle();
      const closed = subscriptions.close();
      // The target's connection closes after: what was waiting on it fails then.
      failAll();
      await closed;
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith({ message: 'Unsubscribe failed', rooms: 3, personalRooms: 0, examples: ['a', 'b', 'c'], error: 'Error: connection closed' });
      expect(subscriptions.size).toBe(0);
      expect(jest.getTimerCount()).toBe(0);
    });
  });

  describe('acquireNow', () => {
    /** A target that can subscribe at once while `now` says so. */
    function targetWithNow() {
      const recording = recordingBroker();
      const state = { now: true };
      const subscribeNow = jest.fn((room: string) => {
        if (state.now) recording.calls.push(`subscribeNow ${room}`);
        return state.now;
      });
      Object.assign(recording.broker, { subscribeNow });
      return { ...recording, now: state, subscribeNow };
    }

    it('holds a subscribed key at once, and subscribes a new one at once when the target can', async () => {
      const { broker, calls } = targetWithNow();
      const subscriptions = new RefCountedSubscriptions(broker);
      expect(subscriptions.acquireNow('a')).toBe(true);
      expect(subscriptions.acquireNow('a')).toBe(true);
      await subscriptions.acquire('a');
      expect(calls).toEqual(['subscribeNow a']);
      expect(subscriptions.size).toBe(1);
      for (let i = 0; i < 3; i++) subscriptions.release('a');
      await settle();
      expect(calls).toEqual(['subscribeNow a', 'unsubscribe a']);
      expect(subscriptions.size).toBe(0);
    });

    it('changes nothing and says so when the key needs a round trip: the target cannot, or an operation on it is queued', async () => {
      const { broker, calls, now } = targetWithNow();
      const subscriptions = new RefCountedSubscriptions(broker);
      now.now = false;
      expect(subscriptions.acquireNow('a')).toBe(false);
      expect(subscriptions.size).toBe(0);
      const subscribing = subscriptions.acquire('a');
      // Its subscribe is queued: holding it now would skip waiting for it.
      expect(subscriptions.acquireNow('a')).toBe(false);
      await subscribing;
      expect(subscriptions.acquireNow('a')).toBe(true);
      subscriptions.release('a');
      subscriptions.release('a');
      // Its unsubscribe is queued: the key is not to be taken as subscribed.
      expect(subscriptions.acquireNow('a')).toBe(false);
      await settle();
      expect(calls).toEqual(['subscribe a', 'unsubscribe a']);
      expect(subscriptions.size).toBe(0);
    });

    it('has no way to subscribe at once for a target without subscribeNow', () => {
      const { broker } = recordingBroker();
      const subscriptions = new RefCountedSubscriptions(broker);
      expect(subscriptions.acquireNow('a')).toBe(false);
      expect(subscriptions.size).toBe(0);
    });
  });
});
