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

/** Every acknowledged text reached each member exactly once, unless that member was told to recover the room (then at most once between two recoveries). */
export async function expectExactlyOnce(members: TestClient[], room: string, acknowledged: string[]): Promise<void> {
  for (const member of members) {
    expect(member.closeInfo).toBeUndefined();
    await eventually(() => {
      const received = framesIn(member, room, 'notification').map((frame) => frame.data.payload.text as string);
      // Once between two recoveries at most: a refused attempt the failover lost may have
      // reached the member before one, and its retry after (docs/operations.md), with the member
      // told to reload in between.
      const frames = member.frames.filter((frame: ServerFrame) => frame.data?.room === room && (frame.event === 'notification' || frame.event === 'recovery'));
      const sides: string[][] = [[]];
      for (const frame of frames) {
        if (frame.event === 'recovery') sides.push([]);
        else sides.at(-1)!.push(frame.data.payload.text as string);
      }
      const doubled = sides.flatMap((side) => side.filter((text, index) => side.indexOf(text) !== index));
      // On failure the whole sequence is shown, seqs included: which life delivered each copy.
      const sequence = frames.map((frame: ServerFrame) => (frame.event === 'recovery' ? 'recovery' : `${frame.data.payload.text}@${frame.data.seq}`));
      expect({ doubled, sequence: doubled.length > 0 ? sequence : [] }).toEqual({ doubled: [], sequence: [] });
      // Told to recover, the member reloads what it missed: only an untold one must have it all.
      if (sides.length === 1) expect(acknowledged.filter((text) => !received.includes(text))).toEqual([]);
    }, 10_000);
  }
}
