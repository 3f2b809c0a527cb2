/**
 * A `seq` is `<epoch>-<position>`: the epoch names one continuous life of a room's history
 * (it changes when the history is lost: expiry, a Redis restart), the position counts within
 * it. Both parts are fixed-width so seqs of one room also sort as plain strings.
 */
export const POSITION_WIDTH = 12;

export interface ParsedSeq {
  epoch: string;
  position: number;
}

export function formatSeq(epoch: string, position: number): string {
  return `${epoch}-${String(position).padStart(POSITION_WIDTH, '0')}`;
}

export function parseSeq(seq: string): ParsedSeq | undefined {
  const dash = seq.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const digits = seq.slice(dash + 1);
  if (!/^\d{1,15}$/.test(digits)) return undefined;
  return { epoch: seq.slice(0, dash), position: Number(digits) };
}

/** How many base-36 digits of milliseconds start an epoch (the Redis scripts write the same). */
export const EPOCH_TIME_DIGITS = 9;

/** How many base-36 digits of randomness end an epoch. */
const EPOCH_SUFFIX_DIGITS = 3;

/**
 * A seq as this service writes one: an epoch of lowercase base-36 digits and a zero-padded
 * position. Seqs are compared as strings (the inbox's `before`), so a seq of another shape
 * (`E-2`, an unpadded position) would page wrongly rather than fail: callers refuse it instead.
 */
export const SEQ_PATTERN = new RegExp(`^[0-9a-z]{${EPOCH_TIME_DIGITS + EPOCH_SUFFIX_DIGITS}}-\\d{${POSITION_WIDTH},15}$`);

/** A new epoch: milliseconds then randomness, so later epochs sort after earlier ones. */
export function newEpoch(nowMs = Date.now()): string {
  return nowMs.toString(36).padStart(EPOCH_TIME_DIGITS, '0') + newEpochSuffix();
}

/** An epoch's random part; with Redis, the server's clock supplies the time part. */
export function newEpochSuffix(): string {
  return Math.floor(Math.random() * 36 ** EPOCH_SUFFIX_DIGITS).toString(36).padStart(EPOCH_SUFFIX_DIGITS, '0');
}

/**
 * Decides recovery from the positions a store still holds (section 4: `recovered: true` is a
 * promise). `oldestPosition` is the oldest retained entry inside the window, or undefined when
 * the window is empty.
 */
export function canRecover(since: ParsedSeq, epoch: string, latestPosition: number, oldestPosition: number | undefined): boolean {
  if (since.epoch !== epoch || since.position > latestPosition) return false;
  if (since.position === latestPosition) return true;
  return oldestPosition !== undefined && oldestPosition <= since.position + 1;
}
