import { randomUUID } from 'node:crypto';
import { signToken } from './tokens';
import { ServerFrame, connectClient } from './ws-client';

/**
 * A fresh client joins `room` through `wsUrl` with `since`: the reply says `recovered` (and, when
 * true, how many it `missed`), and exactly the `missed` texts follow, in order. Returns their seqs.
 */
export async function expectRejoin(wsUrl: string, room: string, since: string, expected: { recovered: boolean; missed: string[] }): Promise<string[]> {
  const client = await connectClient(wsUrl, signToken({ sub: `rejoin-${randomUUID().slice(0, 8)}` }));
  try {
    const joined = await client.join(room, since);
    expect(joined.data).toMatchObject({ recovered: expected.recovered, ...(expected.recovered && { missed: expected.missed.length }) });
    const inRoom = (frame: ServerFrame) => frame.event === 'notification' && frame.data.room === room;
    if (expected.missed.length > 0) await client.waitFor((frame) => inRoom(frame) && frame.data.payload.text === expected.missed.at(-1));
    const replayed = client.frames.filter(inRoom);
    expect(replayed.map((frame) => frame.data.payload.text)).toEqual(expected.missed);
    return replayed.map((frame) => frame.data.seq as string);
  } finally {
    await client.close();
  }
}
