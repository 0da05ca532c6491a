import type { Clock, TimerHandle } from "../clock/clock.js";
import type { Frame } from "../frames/frame.js";

interface Entry {
  frame: Frame;
  pts: number;
  seq: number;
}

/**
 * Holds frames with a presentation time (`pts`, ms on the task clock) until their time, then
 * hands them to `release` in (pts, arrival) order. One clock timer, armed for the earliest
 * frame. Bounded by what is queued: an interruption clears it.
 */
export class TimedFrameQueue {
  readonly #heap: Entry[] = [];
  #seq = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly release: (frame: Frame) => void,
  ) {}

  get length(): number {
    return this.#heap.length;
  }

  add(frame: Frame): void {
    this.#push({ frame, pts: frame.pts ?? this.clock.now(), seq: this.#seq++ });
    this.#arm();
  }

  /** Drops everything (interruption, cancel). */
  clear(): void {
    this.#heap.length = 0;
    this.#disarm();
  }

  /** Releases everything now, in order (end of the pipeline: nothing is left behind). */
  flushAll(): void {
    this.#disarm();
    while (this.#heap.length > 0) this.release(this.#pop().frame);
  }

  #arm(): void {
    const head = this.#heap[0];
    if (!head || head.pts >= this.#timerAt) return;
    this.#disarm();
    this.#timerAt = head.pts;
    this.#timer = this.clock.setTimer(() => this.#fire(), head.pts - this.clock.now());
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    while (this.#heap.length > 0 && this.#heap[0]!.pts <= now) this.release(this.#pop().frame);
    this.#arm();
  }

  #less(a: Entry, b: Entry): boolean {
    return a.pts < b.pts || (a.pts === b.pts && a.seq < b.seq);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Entry {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
