/**
 * Deepgram's limit on `Flush` messages (20 per 60 s on `/v1/speak`; more are refused with a
 * `Warning`, and the text they should have flushed is not spoken until a later flush): a sliding
 * window of the last `count` flush times. Memory: `count` numbers.
 */
export class FlushBudget {
  readonly #times: number[] = [];

  constructor(
    /** Flushes allowed per window. */
    readonly count: number,
    /** The window, in ms. */
    readonly windowMs: number,
  ) {}

  /** The earliest time (ms of the task clock) the next flush may go; ≤ `nowMs` means at once. */
  nextAt(nowMs: number): number {
    const times = this.#times;
    while (times.length > 0 && times[0]! + this.windowMs <= nowMs) times.shift();
    return times.length < this.count ? nowMs : times[0]! + this.windowMs;
  }

  /** A flush was sent at `nowMs`. */
  used(nowMs: number): void {
    this.#times.push(nowMs);
    if (this.#times.length > this.count) this.#times.shift();
  }
}
