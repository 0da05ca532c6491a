import type { Clock, TimerHandle } from "../../clock/clock.js";
import type { Frame } from "../../frames/frame.js";

/**
 * Frames the RTVI processor pushes only once the interruption it asked for has passed it (the
 * `send-text` with `run_immediately`): pushed earlier, they would be flushed by that very
 * interruption downstream. A batch waits for an `InterruptionFrame` created after its request
 * (frame ids increase), so an interruption already on its way does not release it early.
 *
 * Bounded both ways: at most `maxBatches` wait, and none longer than `waitMs` (if the
 * interruption never comes, `onTimeout` takes them all). @internal
 */
export class AfterInterruption {
  #batches: Array<{ afterId: number; frames: Frame[] }> = [];
  #timer: TimerHandle | undefined;

  constructor(
    private readonly maxBatches: number,
    private readonly waitMs: number,
    private readonly onTimeout: (frames: Frame[]) => void,
  ) {}

  /** Batches waiting. */
  get size(): number {
    return this.#batches.length;
  }

  /** Holds `frames` until an interruption newer than frame `afterId` passes; false when full. */
  add(clock: Clock, afterId: number, frames: Frame[]): boolean {
    if (this.#batches.length >= this.maxBatches) return false;
    this.#batches.push({ afterId, frames });
    this.#timer ??= clock.setTimer(() => {
      this.#timer = undefined;
      const late = this.takeAll();
      if (late.length > 0) this.onTimeout(late);
    }, this.waitMs);
    return true;
  }

  /**
   * Adds `frames` to the end of the last waiting batch, so they go out after it (and after its
   * interruption); false when no batch waits.
   */
  appendToLast(frames: Frame[]): boolean {
    const last = this.#batches.at(-1);
    if (last === undefined) return false;
    last.frames.push(...frames);
    return true;
  }

  /** The frames of every batch that asked for an interruption older than `interruptionId`, in order. */
  takeBefore(interruptionId: number): Frame[] {
    const due: Frame[] = [];
    while (this.#batches.length > 0 && this.#batches[0]!.afterId < interruptionId) {
      due.push(...this.#batches.shift()!.frames);
    }
    if (this.#batches.length === 0) this.#cancelTimer();
    return due;
  }

  /** Every waiting frame, in order; nothing waits afterwards. */
  takeAll(): Frame[] {
    const all = this.#batches.flatMap((b) => b.frames);
    this.clear();
    return all;
  }

  /** Drops every batch and the deadline. */
  clear(): void {
    this.#batches = [];
    this.#cancelTimer();
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
