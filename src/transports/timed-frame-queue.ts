import type { Clock, TimerHandle } from "../clock/clock.js";
import { MinHeap } from "../clock/min-heap.js";
import { type Frame, isUninterruptible } from "../frames/frame.js";

interface Entry {
  frame: Frame;
  pts: number;
  seq: number;
}

/**
 * Holds frames with a presentation time (`pts`, ms on the task clock) until their time. It
 * does not deliver them: when the earliest is due it calls `onDue`, and the sender takes the due
 * frames ({@link takeDue}) into its one delivery route, in (pts, arrival) order. One clock
 * timer, armed for the earliest frame. Bounded by what is queued: an interruption drops the
 * interruptible ones, cancel drops all.
 */
export class TimedFrameQueue {
  readonly #heap = new MinHeap<Entry>((a, b) => a.pts < b.pts || (a.pts === b.pts && a.seq < b.seq));
  #seq = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: () => void,
  ) {}

  get length(): number {
    return this.#heap.size;
  }

  /** Holds `frame` until `pts`. `pts` must be finite (the output neutralises other values first). */
  add(frame: Frame, pts: number): void {
    if (!Number.isFinite(pts)) throw new RangeError(`TimedFrameQueue: pts must be finite (got ${pts})`);
    this.#heap.push({ frame, pts, seq: this.#seq++ });
    this.#arm();
  }

  /** Hands the frames that are due by now to `take`, in order. */
  takeDue(take: (frame: Frame) => void): void {
    const now = this.clock.now();
    while ((this.#heap.peek()?.pts ?? Number.POSITIVE_INFINITY) <= now) take(this.#heap.pop()!.frame);
    this.#arm();
  }

  /** Hands every frame to `take`, in order, due or not (the end of the stream). */
  takeAll(take: (frame: Frame) => void): void {
    this.#disarm();
    for (let e = this.#heap.pop(); e; e = this.#heap.pop()) take(e.frame);
  }

  /** Drops the interruptible frames (interruption); uninterruptible ones keep their time. */
  dropInterruptible(): void {
    const kept: Entry[] = [];
    for (let e = this.#heap.pop(); e; e = this.#heap.pop()) if (isUninterruptible(e.frame)) kept.push(e);
    for (const e of kept) this.#heap.push(e);
    this.#disarm();
    this.#arm();
  }

  /** Drops everything (cancel). */
  clear(): void {
    this.#heap.clear();
    this.#disarm();
  }

  #arm(): void {
    const head = this.#heap.peek();
    if (!head || head.pts >= this.#timerAt) return;
    this.#disarm();
    this.#timerAt = head.pts;
    this.#timer = this.clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.onDue();
    }, head.pts - this.clock.now());
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }
}
