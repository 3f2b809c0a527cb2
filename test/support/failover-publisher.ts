import { randomUUID } from 'node:crypto';
import { eventually } from './eventually';
import { publish } from './http';
import type { TestApp } from './test-app';
import type { ServerFrame, TestClient } from './ws-client';

/** A publisher through a failover, as the contract asks of one: every non-202 retried with the same id. */
export interface RetryingPublisher {
  /** The texts answered 202, in order. */
  readonly acknowledged: string[];
  stop(): Promise<void>;
}

/** Publishes `n0`, `n1`, … to `room` from each pod in turn until stopped, retrying each non-202 (0 or 503) with its id. */
export function keepPublishing(pods: TestApp[], room: string): RetryingPublisher {
  const acknowledged: string[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const id = randomUUID();
      const text = `n${n}`;
      for (;;) {
        const result = await publish(pods[n % pods.length].url, { rooms: [room], type: 'test', payload: { text }, id }).catch(() => ({ status: 0 }));
        if (result.status === 202) break;
        expect([0, 503]).toContain(result.status);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      acknowledged.push(text);
    }
  })();
  return {
    acknowledged,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const framesIn = (client: TestClient, room: string, event: string) => client.all(event).filter((frame: ServerFrame) => frame.data.room === room);

/** Every acknowledged text reached each member exactly once, unless that member was told to recover the room (then at most once on each side of that). */
export async function expectExactlyOnce(members: TestClient[], room: string, acknowledged: string[]): Promise<void> {
  for (const member of members) {
    expect(member.closeInfo).toBeUndefined();
    await eventually(() => {
      const received = framesIn(member, room, 'notification').map((frame) => frame.data.payload.text as string);
      // Once on each side of a recovery at most: a refused attempt the failover lost may have
      // reached the member before it, and its retry after (docs/operations.md), with the member
      // told to reload in between.
      const frames = member.frames.filter((frame: ServerFrame) => frame.data?.room === room && (frame.event === 'notification' || frame.event === 'recovery'));
      const told = frames.findIndex((frame: ServerFrame) => frame.event === 'recovery');
      for (const side of told === -1 ? [frames] : [frames.slice(0, told), frames.slice(told)]) {
        const texts = side.filter((frame: ServerFrame) => frame.event === 'notification').map((frame: ServerFrame) => frame.data.payload.text as string);
        expect(new Set(texts).size).toBe(texts.length);
      }
      if (told === -1) expect(acknowledged.filter((text) => !received.includes(text))).toEqual([]);
    }, 10_000);
  }
}
