import type { Clock, TimerHandle } from "../clock/clock.js";
import { MinHeap } from "../clock/min-heap.js";
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
  readonly #heap = new MinHeap<Entry>((a, b) => a.pts < b.pts || (a.pts === b.pts && a.seq < b.seq));
  #seq = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly release: (frame: Frame) => void,
  ) {}

  get length(): number {
    return this.#heap.size;
  }

  add(frame: Frame): void {
    this.#heap.push({ frame, pts: frame.pts ?? this.clock.now(), seq: this.#seq++ });
    this.#arm();
  }

  /** Drops everything (interruption, cancel). */
  clear(): void {
    this.#heap.clear();
    this.#disarm();
  }

  /** Releases everything now, in order (end of the pipeline: nothing is left behind). */
  flushAll(): void {
    this.#disarm();
    for (let e = this.#heap.pop(); e; e = this.#heap.pop()) this.release(e.frame);
  }

  #arm(): void {
    const head = this.#heap.peek();
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
    while ((this.#heap.peek()?.pts ?? Number.POSITIVE_INFINITY) <= now) this.release(this.#heap.pop()!.frame);
    this.#arm();
  }
}
