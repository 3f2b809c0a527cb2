import type { Duplex } from 'node:stream';

/**
 * Holds a socket's writes until the check phase of this event-loop turn, then sends them in one
 * write call: on loopback and in containers a write call (and the wake-up of the reader it
 * causes) costs more than the JavaScript that fills it. Used for a broadcast's frames (several
 * in one turn leave together, see sendPrepared), for a handshake's 101 response, which then
 * leaves with the `welcome` written in the same turn instead of one call before it, for a join's
 * reply and its replay (ConnectionHub.handOver), and for the heartbeat's protocol ping and ping
 * frame.
 *
 * A socket corked already (by this, or inside ws's own cork-write-uncork) is left as it is.
 */
export function corkForThisTurn(stream: Duplex): void {
  if (stream.writableCorked !== 0) return;
  stream.cork();
  corked.push(stream);
  if (corked.length === 1) setImmediate(uncorkAll);
}

/** Sockets corked during this turn; emptied by uncorkAll in the check phase. */
const corked: Duplex[] = [];

function uncorkAll(): void {
  for (let i = 0; i < corked.length; i++) corked[i].uncork();
  corked.length = 0;
}
