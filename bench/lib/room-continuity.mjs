/**
 * What one client saw of its rooms, checked against section 4 of the contract as frames arrive:
 * each room's notifications come once each, in order, without a gap (seqs here are
 * `<epoch>-<position>`, positions consecutive within an epoch), unless the server said it could
 * not prove that (`recovery`, or a rejoin answered `recovered: false`); a rejoin answered
 * `recovered: true` replays exactly what followed its `since`; no publish reaches the client
 * twice between two fresh starts, whatever its seqs. A new history life (a new epoch)
 * may begin without a `recovery` where the server proved nothing came between (a failover that
 * lost no acknowledged write): it then begins at position 1, and the life it ends must have
 * ended where every other member saw it end (`lifeEnds`, checked across clients by the drill).
 *
 * The seq layout is Herald's own (src/broker/seq.ts), not the contract's: the drill reads it to
 * find gaps that an opaque seq would hide.
 */
export class RoomContinuity {
  /** Per room: the last seq seen, its epoch and position, the seqs seen (with their payload's `n`), and whether the next one starts afresh. */
  rooms = new Map();
  violations = [];
  recoveries = 0;
  received = 0;
  /** Lives this client left for a new one without a `recovery`: {room, epoch, position} where it left each. */
  lifeEnds = [];
  rejoins = { recovered: 0, notRecovered: 0 };

  constructor(name) {
    this.name = name;
  }

  /** The `since` to rejoin `room` with, or undefined when the client has nothing it could resume from. */
  sinceFor(room) {
    const state = this.rooms.get(room);
    return state && !state.fresh ? state.lastSeq ?? undefined : undefined;
  }

  joined({ room, seq, recovered, missed }) {
    const state = this.rooms.get(room);
    if (state && recovered === true) {
      // The replay follows, in order, from the seq the client last saw: onNotification checks it.
      this.rejoins.recovered++;
      state.replaying = missed ?? 0;
      return;
    }
    if (state && recovered === false) this.rejoins.notRecovered++;
    const at = parseSeq(seq);
    this.rooms.set(room, { lastSeq: seq, epoch: at?.epoch ?? null, position: at?.position ?? 0, seen: state?.seen ?? new Map(), fresh: false, sinceFresh: new Map(), replaying: 0 });
  }

  /** `recovery`: the server cannot prove this room missed nothing; what follows starts afresh. */
  recovery({ room }) {
    const state = this.rooms.get(room);
    if (!state) return;
    this.recoveries++;
    state.fresh = true;
  }

  /** `payload.n`, when there is one, is kept with the seq: the drill tells which publishes were acknowledged by it. */
  notification({ room, seq, payload }) {
    const state = this.rooms.get(room);
    if (!state) return;
    this.received++;
    const at = parseSeq(seq);
    if (!at) return this.violation(`${room}: unreadable seq ${seq}`);
    if (state.seen.has(seq)) return this.violation(`${room}: ${seq} delivered twice`);
    state.seen.set(seq, payload?.n);
    if (state.fresh) state.sinceFresh = new Map();
    // Once each between fresh starts, by the publish's own number: a retry the new life carries
    // again after its first attempt reached the client in the old one has another seq.
    // How it came, for the violation's text: live, or in a rejoin's replay.
    const how = state.replaying > 0 ? 'in a replay' : 'live';
    if (state.replaying > 0) state.replaying--;
    const first = payload?.n === undefined ? undefined : state.sinceFresh.get(payload.n);
    if (first !== undefined) this.violation(`${room}: publish ${payload.n} delivered twice (${first}, again as ${seq} ${how}) without a recovery`);
    if (payload?.n !== undefined) state.sinceFresh.set(payload.n, `as ${seq} ${how}`);
    if (state.fresh) state.fresh = false;
    else if (state.epoch === null && at.position !== 1) this.violation(`${room}: first message of a room without history is ${seq}`);
    else if (state.epoch !== null && at.epoch !== state.epoch) {
      if (at.position !== 1) this.violation(`${room}: new history life entered at ${seq} after ${state.lastSeq} without a recovery`);
      else this.lifeEnds.push({ room, epoch: state.epoch, position: state.position });
    }
    else if (state.epoch !== null && at.position !== state.position + 1) this.violation(`${room}: gap from ${state.lastSeq} to ${seq}`);
    Object.assign(state, { lastSeq: seq, epoch: at.epoch, position: at.position });
  }

  /** After the drill: every room ends on the room's latest seq, or on a fresh start the server announced. */
  endsAt(room, latestSeq) {
    const state = this.rooms.get(room);
    if (state && !state.fresh && state.lastSeq !== latestSeq) this.violation(`${room}: ends at ${state.lastSeq}, the room at ${latestSeq}`);
  }

  violation(text) {
    this.violations.push(`${this.name} ${text}`);
  }
}

/**
 * Across clients: each life a client left for a new one without a `recovery` (`lifeEnds`) ended
 * after the last publication of that life any client saw among the `acknowledged` ones (by the
 * payload's `n`). A write a deposed primary ran after its failover, answered 503, may reach the
 * members of one pod and not the other's: that one is no gap. Returns the violations.
 */
export function lifeEndViolations(continuities, acknowledged) {
  const lastPositions = new Map();
  for (const { rooms } of continuities) {
    for (const [room, { seen }] of rooms) {
      for (const [seq, n] of seen) {
        if (!acknowledged.has(n)) continue;
        const { epoch, position } = parseSeq(seq);
        const key = `${room} ${epoch}`;
        lastPositions.set(key, Math.max(lastPositions.get(key) ?? 0, position));
      }
    }
  }
  return continuities.flatMap(({ name, lifeEnds }) =>
    lifeEnds
      .filter(({ room, epoch, position }) => (lastPositions.get(`${room} ${epoch}`) ?? 0) > position)
      .map(({ room, epoch, position }) => `${name} ${room}: left life ${epoch} at ${position} for a new one without a recovery, but that life went on to ${lastPositions.get(`${room} ${epoch}`)} (acknowledged)`),
  );
}

function parseSeq(seq) {
  const match = typeof seq === 'string' ? /^(.+)-(\d+)$/.exec(seq) : null;
  return match ? { epoch: match[1], position: Number(match[2]) } : null;
}
