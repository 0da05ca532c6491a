/**
 * Puts numbered messages back in order within a small, bounded window: for a media stream whose
 * provider does not guarantee the order of its messages (Telnyx; docs/design/telephony.md).
 *
 * The policy, chosen so that audio is never played out of order and the state never grows:
 *
 * - The first number pushed sets where the stream begins.
 * - The message with the next expected number is released at once, with every held one that
 *   follows it without a gap.
 * - A message ahead of the next expected number is held, at most `capacity` of them. When one
 *   more would exceed that, the gap is given up: the lowest held message is released (the
 *   missing numbers before it are skipped and counted), then every held one that follows it.
 *   With 20 ms packets and the default capacity of 3, a gap delays audio by at most 60 ms.
 * - A message whose number is below the next expected one (it comes after what followed it was
 *   already released, or it is a copy of one released) is dropped and counted as late; a copy of
 *   one still held is dropped and counted as a duplicate.
 * - {@link flush} releases everything held, in order (the stream ended).
 * - A numbering that starts again lower (a stream spliced or renumbered) would otherwise make
 *   every later message late, and the stream silent for good: after `restartAfter` late messages
 *   in a row that follow one another (each within the window of the one before), the window
 *   restarts at the last of them (what it held comes out first), counted in {@link restarts}.
 *   This is the one case where a number lower than one released comes out.
 *
 * A number far ahead of the stream (a corrupt one) is simply held: it takes one place of the
 * window until the stream ends, and the stream goes on around it. No timer: a gap is given up
 * when later messages fill the window, or at {@link flush}.
 */
export class ReorderWindow<T> {
  /** Most messages held while waiting for a missing one. */
  readonly capacity: number;
  /** Messages dropped because their number was below the next expected one (late, or a copy of one released). */
  late = 0;
  /** Messages dropped because one with the same number was already held. */
  duplicates = 0;
  /** Numbers given up on: the window filled while they were missing. */
  skipped = 0;
  /** Times the numbering was taken to have started again (see the class notes). */
  restarts = 0;
  /** Late messages in a row that would restart the numbering. */
  readonly restartAfter: number;
  /** The current run of late messages that follow one another: the last number and how many. */
  #lateRun = { last: -1, count: 0 };
  /** The next number expected; undefined before the first push. */
  #next: number | undefined;
  /** Held messages, in increasing number; never more than `capacity`. */
  #held: { seq: number; item: T }[] = [];

  /**
   * `capacity`: most messages held (0: none; a gap is given up at once). `restartAfter`: late
   * messages in a row, following one another, taken as a numbering that started again (25: half
   * a second of 20 ms packets).
   */
  constructor(capacity: number, restartAfter = 25) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new RangeError(`ReorderWindow: capacity must be a whole number ≥ 0 (got ${capacity})`);
    }
    if (!Number.isSafeInteger(restartAfter) || restartAfter < 1) {
      throw new RangeError(`ReorderWindow: restartAfter must be a whole number ≥ 1 (got ${restartAfter})`);
    }
    this.capacity = capacity;
    this.restartAfter = restartAfter;
  }

  /** How many messages are held now (at most {@link capacity}). */
  get held(): number {
    return this.#held.length;
  }

  /** The next number expected; undefined before the first push. */
  get next(): number | undefined {
    return this.#next;
  }

  /**
   * Adds message `seq` (a safe integer ≥ 0) and returns the items it releases, in increasing
   * number (often just `item`; none when it is held or dropped).
   */
  push(seq: number, item: T): T[] {
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw new RangeError(`ReorderWindow: a message number must be a safe integer ≥ 0 (got ${seq})`);
    }
    const next = (this.#next ??= seq);
    if (seq < next) return this.#late(seq, item);
    this.#lateRun.count = 0;
    const out: T[] = [];
    if (seq === next) {
      out.push(item);
      this.#next = seq + 1;
    } else {
      const at = this.#insertionPoint(seq);
      if (this.#held[at]?.seq === seq) {
        this.duplicates++;
        return [];
      }
      this.#held.splice(at, 0, { seq, item });
      if (this.#held.length > this.capacity) {
        // The window is full: give up on the gap before the lowest held message.
        const lowest = this.#held.shift()!;
        this.skipped += lowest.seq - next;
        out.push(lowest.item);
        this.#next = lowest.seq + 1;
      }
    }
    this.#releaseFollowing(out);
    return out;
  }

  /** Releases every held message, in order (skipping the gaps), and keeps the numbering. */
  flush(): T[] {
    const out = this.#held.map((h) => h.item);
    const last = this.#held.at(-1);
    if (last && this.#next !== undefined) {
      this.skipped += last.seq + 1 - this.#next - this.#held.length;
      this.#next = last.seq + 1;
    }
    this.#held = [];
    return out;
  }

  /** Drops what is held. */
  clear(): void {
    this.#held = [];
  }

  /** A message below the next expected number: dropped, unless it ends a run that restarts the numbering. */
  #late(seq: number, item: T): T[] {
    const run = this.#lateRun;
    const follows = run.count > 0 && seq > run.last && seq <= run.last + this.capacity + 1;
    run.count = follows ? run.count + 1 : 1;
    run.last = seq;
    if (run.count < this.restartAfter) {
      this.late++;
      return [];
    }
    // The numbering started again: what was held belongs to the old one and comes out first.
    this.restarts++;
    run.count = 0;
    const out = this.#held.map((h) => h.item);
    this.#held = [];
    out.push(item);
    this.#next = seq + 1;
    return out;
  }

  /** Moves held messages that follow the next expected number without a gap into `out`. */
  #releaseFollowing(out: T[]): void {
    let next = this.#next!;
    while (this.#held.length > 0 && this.#held[0]!.seq === next) {
      out.push(this.#held.shift()!.item);
      next++;
    }
    this.#next = next;
  }

  /** Where `seq` goes in the held list (a binary search would not pay for a handful). */
  #insertionPoint(seq: number): number {
    let at = 0;
    while (at < this.#held.length && this.#held[at]!.seq < seq) at++;
    return at;
  }
}
