import type { Duplex } from 'node:stream';

/**
 * Holds a socket's writes until the check phase of this event-loop turn, then sends them in one
 * write call: on loopback and in containers a write call (and the wake-up of the reader it
 * causes) costs more than the JavaScript that fills it. Used for a broadcast's frames (several
 * in one turn leave together, see sendPrepared; one that goes at once is sent as it goes,
 * sendBroadcast), for a handshake's 101 response, which then leaves with the `welcome` written
 * in the same turn instead of one call before it, for a join's reply and its replay
 * (ConnectionHub.handOver), and for the heartbeat's protocol ping and ping frame.
 *
 * A socket corked already (by this, or inside ws's own cork-write-uncork) is left as it is.
 */
export function corkForThisTurn(stream: Duplex): void {
  if (stream.writableCorked !== 0) return;
  if (sendingAsItGoes && corked.length >= FLUSH_EVERY_SOCKETS) flushCorked();
  stream.cork();
  (stream as CorkedStream)[BYTES_BEFORE_CORK] = stream.writableLength;
  corked.push(stream);
  endTurnSoon();
}

/**
 * The bytes written to `stream` since corkForThisTurn corked it, which the kernel has not been
 * offered yet; 0 when it is not corked by it. Uncorked, most of them would have left at once:
 * they are this turn's writes, not a client's backlog (Connection's slow-consumer check).
 */
export function bytesCorkedThisTurn(stream: Duplex): number {
  const before = (stream as CorkedStream)[BYTES_BEFORE_CORK];
  // A write in flight before the cork may complete meanwhile, taking its bytes off the length.
  return before === undefined || before < 0 ? 0 : Math.max(0, stream.writableLength - before);
}

/** What a stream held when corkForThisTurn corked it; -1 once flushed (a number either way: one shape). */
const BYTES_BEFORE_CORK: unique symbol = Symbol('herald.bytesBeforeCork');
type CorkedStream = Duplex & { [BYTES_BEFORE_CORK]?: number };

/**
 * Holds what is written to `stream` until `done` settles, then writes it in one call: an
 * admission that waits for the broker (a Cluster's SSUBSCRIBE) sends its 101 response together
 * with `welcome` or the refusal's close frame, as one that needs no round trip does in its turn.
 */
export function corkUntil(stream: Duplex, done: Promise<unknown>): void {
  stream.cork();
  const release = () => stream.uncork();
  done.then(release, release);
}

/**
 * Runs `send`, one broadcast's writes to its members' sockets. The first broadcast of a turn that
 * follows a pause is sent as it goes: the sockets it corks are flushed every FLUSH_EVERY_SOCKETS
 * and when it ends, rather than in the check phase. Corked until then, a room's first members
 * waited for the pod to go through all the others, and their clients got every frame at the same
 * moment instead of reading them as they came: at a steady rate that is latency for nothing, as
 * one broadcast per turn saves no write call. A turn that starts right after one that broadcast
 * (a pod that keeps broadcasting: a burst, a busy room) and the broadcasts after the first in a
 * turn stay corked until the check phase, so theirs leave in one write per socket.
 */
export function sendBroadcast(send: () => void): void {
  if (!goesAtOnce()) {
    send();
    return;
  }
  sendingAsItGoes = true;
  try {
    send();
  } finally {
    sendingAsItGoes = false;
    flushCorked();
  }
}

function goesAtOnce(): boolean {
  if (broadcastThisTurn) return false;
  broadcastThisTurn = true;
  endTurnSoon();
  return performance.now() - lastBroadcastTurnEndMs >= BACK_TO_BACK_MS;
}

/**
 * How long after a turn that broadcast the next is still taken as back to back. A pod that
 * keeps broadcasting reads the next messages right after writing the last ones, within a
 * fraction of this; a steady rate of tens per second leaves tens of ms between them.
 */
const BACK_TO_BACK_MS = 1;

/**
 * How many sockets a broadcast sent as it goes hands to the kernel in one go: one write per
 * socket as when corked, a batch of them at a time. Writing each frame as its member came cost a
 * fan-out at full load more CPU per delivered message than these batches (docs/benchmarks.md).
 */
const FLUSH_EVERY_SOCKETS = 128;

/** Sockets corked during this turn; emptied by flushCorked (the check phase, or sendBroadcast). */
const corked: Duplex[] = [];
/** A broadcast is being sent as it goes: corkForThisTurn flushes every FLUSH_EVERY_SOCKETS. */
let sendingAsItGoes = false;
let turnEnding = false;
/** Whether this turn broadcast (goesAtOnce), and when the last turn that did ended. */
let broadcastThisTurn = false;
let lastBroadcastTurnEndMs = Number.NEGATIVE_INFINITY;

function flushCorked(): void {
  for (let i = 0; i < corked.length; i++) {
    (corked[i] as CorkedStream)[BYTES_BEFORE_CORK] = -1;
    corked[i].uncork();
  }
  corked.length = 0;
}

function endTurnSoon(): void {
  if (turnEnding) return;
  turnEnding = true;
  setImmediate(endTurn);
}

function endTurn(): void {
  turnEnding = false;
  flushCorked();
  if (!broadcastThisTurn) return;
  broadcastThisTurn = false;
  // After the writes: a pod still busy writing them has not paused.
  lastBroadcastTurnEndMs = performance.now();
}
