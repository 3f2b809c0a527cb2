import type { Publication } from '../broker/broker';
import { PreparedFrame } from './prepared-frame';
import { deliveryFrame } from './server-frame';

/**
 * The frames of the publications that joins replay, built once per publication while any socket
 * still holds its bytes. A reconnect storm's rejoins replay the same publications to thousands
 * of sockets: each frame is built once, not once per socket, and written as ready-made bytes
 * (one buffered write, where `ws.send` encodes, frames and writes twice). Shared by room and seq
 * (another history read of the same room hands out other objects for the same publications),
 * and across turns: clients that rejoin a room with a long history one after another and never
 * read held a replay each, 6.5 MB apiece for a hundred 64 KB messages, where now they hold the
 * same bytes. Held weakly: once no send buffer holds a frame's bytes, they are let go, so the
 * pod keeps no second copy of a room's history.
 */
export class ReplayFrames {
  /** This turn's frames, by room and seq: the joins of one turn take the same object. */
  private readonly frames = new Map<string, PreparedFrame>();
  /** Frames of earlier turns whose bytes a send buffer may still hold, by room and seq. */
  private readonly held = new Map<string, WeakRef<Buffer>>();
  private readonly letGo = new FinalizationRegistry<string>((key) => {
    if (this.held.get(key)?.deref() === undefined) this.held.delete(key);
  });

  of(publication: Publication): PreparedFrame {
    const key = `${publication.room}\n${publication.seq}`;
    let frame = this.frames.get(key);
    if (frame === undefined) {
      // The turn's first frame: this turn's map is emptied once it is over.
      if (this.frames.size === 0) setImmediate(this.forget);
      const wire = this.held.get(key)?.deref();
      frame = wire === undefined ? this.built(key, publication) : new PreparedFrame(wire);
      this.frames.set(key, frame);
    }
    return frame;
  }

  private built(key: string, publication: Publication): PreparedFrame {
    const frame = new PreparedFrame(deliveryFrame(publication));
    this.held.set(key, new WeakRef(frame.wire[0]));
    this.letGo.register(frame.wire[0], key);
    return frame;
  }

  private readonly forget = (): void => this.frames.clear();
}
