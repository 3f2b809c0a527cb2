import type { Publication } from '../broker/broker';
import { PreparedFrame } from './prepared-frame';
import { deliveryFrame } from './server-frame';

/**
 * The frames of the publications that joins replay in this turn of the event loop, built once
 * per publication. A reconnect storm's rejoins replay the same publications to thousands of
 * sockets, and the joins of one turn share them: one history read for the same room and
 * `since` (RedisBroker), or the publications the pod keeps for a room it follows (RoomFeeds).
 * Each frame is then built once per turn rather than once per socket, and written as
 * ready-made bytes (one buffered write, where `ws.send` encodes, frames and writes twice).
 * Forgotten at the end of the turn: the pod keeps no second copy of a room's history.
 */
export class ReplayFrames {
  private readonly frames = new Map<Publication, PreparedFrame>();

  of(publication: Publication): PreparedFrame {
    let frame = this.frames.get(publication);
    if (frame === undefined) {
      // The turn's first frame: they are all forgotten once it is over.
      if (this.frames.size === 0) setImmediate(this.forget);
      frame = new PreparedFrame(deliveryFrame(publication));
      this.frames.set(publication, frame);
    }
    return frame;
  }

  private readonly forget = (): void => this.frames.clear();
}
