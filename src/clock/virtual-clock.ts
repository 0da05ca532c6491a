import { setImmediate as nextTurn, setTimeout as realSleep } from "node:timers/promises";
import { AsyncResource } from "node:async_hooks";
import { performance } from "node:perf_hooks";
import { BaseClock, type TimerHandle, checkDelay } from "./clock.js";
import { MinHeap } from "./min-heap.js";
import { VoicepipeError } from "../errors.js";

const NOOP = (): void => {};

interface VirtualTimer {
  at: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

/** Options for {@link VirtualClock.runUntil}. */
export interface RunUntilOptions {
  /** Give up (with a {@link VirtualTimeExceededError}) after this much virtual time. @default 3_600_000 */
  maxMs?: number;
}

/** Raised by {@link VirtualClock.runUntil} when the awaited outcome never comes. */
export class VirtualTimeExceededError extends VoicepipeError {
  readonly code = "VP_VIRTUAL_TIME_EXCEEDED";
}

/**
 * A clock that moves only when told to. Timers fire in time order (ties in the order they were
 * set), and between timers the clock lets pending promise callbacks and `setImmediate` turns
 * run, so async code observes the same ordering it would on a real clock, deterministically
 * and without waiting.
 *
 * Work that needs real time (file or network I/O, compiling WebAssembly, native inference)
 * does not move with the virtual clock. Code marks it with {@link Clock.track}: while marked
 * work is in flight the virtual clock fires no timer and waits in real time (up to
 * `realWorkTimeoutMs`). Unmarked real work only gets `settleTurns` event-loop turns between
 * two timers, so a deadline may fire in virtual time before it finishes.
 *
 * @example
 * const clock = new VirtualClock();
 * const task = new PipelineTask(pipeline, { clock });
 * const done = task.run();
 * await clock.advance(5_000);            // five seconds pass instantly
 * await clock.runUntil(done);            // move time until the task has finished
 */
export class VirtualClock extends BaseClock {
  #now = 0;
  #seq = 0;
  /** Cancelled timers still in the heap. */
  #cancelledInHeap = 0;
  readonly #heap = new MinHeap<VirtualTimer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  #live = 0;
  /** Real work marked with `track()` and not settled yet. */
  #realWork = 0;

  /** Real event-loop turns let run between two timers, so chains of async work settle. */
  readonly settleTurns: number;

  /** Longest real time to wait for tracked real work before giving up, in ms. */
  readonly realWorkTimeoutMs: number;

  constructor(options: { startMs?: number; settleTurns?: number; realWorkTimeoutMs?: number } = {}) {
    super();
    this.#now = options.startMs ?? 0;
    checkDelay(this.#now, "startMs");
    this.settleTurns = options.settleTurns ?? 4;
    this.realWorkTimeoutMs = options.realWorkTimeoutMs ?? 60_000;
    if (!Number.isInteger(this.settleTurns) || this.settleTurns < 0 || this.settleTurns > 1_000) {
      throw new RangeError(
        `VirtualClock: settleTurns must be a whole number from 0 to 1000 (got ${options.settleTurns})`,
      );
    }
    if (!Number.isFinite(this.realWorkTimeoutMs) || this.realWorkTimeoutMs <= 0) {
      throw new RangeError(
        `VirtualClock: realWorkTimeoutMs must be a finite number of ms above 0 (got ${options.realWorkTimeoutMs})`,
      );
    }
  }

  /** Real work marked with {@link track} and still in flight. */
  get pendingRealWork(): number {
    return this.#realWork;
  }

  override track<T>(work: Promise<T>): Promise<T> {
    this.#realWork++;
    const done = (): void => {
      this.#realWork--;
    };
    work.then(done, done);
    return work;
  }

  now(): number {
    return this.#now;
  }

  /** Number of timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.#live;
  }

  /** Running time of the next timer due, or `undefined` when none is pending. */
  nextTimerAt(): number | undefined {
    this.#dropCancelledHead();
    return this.#heap.peek()?.at;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    checkDelay(delayMs);
    const timer: VirtualTimer = {
      at: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      // Run in the async context that set the timer, as a Node timer does: work started by an
      // interrupted turn is then known as stale on this clock too (docs/design/interruption.md).
      callback: AsyncResource.bind(callback),
      cancelled: false,
    };
    this.#heap.push(timer);
    this.#live++;
    return {
      cancel: () => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        this.#live--;
        this.#forget(timer);
      },
    };
  }

  /**
   * Lets pending promise callbacks and immediates run, and waits (in real time) for tracked
   * real work to finish, without moving virtual time.
   */
  async settle(turns = this.settleTurns): Promise<void> {
    for (let i = 0; i < turns; i++) await nextTurn();
    if (this.#realWork === 0) return;
    const giveUpAt = performance.now() + this.realWorkTimeoutMs;
    while (this.#realWork > 0) {
      if (performance.now() > giveUpAt) {
        throw new VirtualTimeExceededError(
          `VirtualClock: tracked real work did not finish within ${this.realWorkTimeoutMs} ms of real time`,
        );
      }
      await realSleep(1);
      for (let i = 0; i < turns; i++) await nextTurn();
    }
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    checkDelay(ms, "advance(ms)");
    await this.advanceTo(this.#now + ms);
  }

  /** Moves time forward to `timeMs`, firing every timer due on the way, in order. */
  async advanceTo(timeMs: number): Promise<void> {
    checkDelay(timeMs, "advanceTo(timeMs)");
    await this.settle();
    for (;;) {
      const next = this.#popDue(timeMs);
      if (!next) break;
      this.#now = Math.max(this.#now, next.at);
      this.#fire(next);
      await this.settle();
    }
    this.#now = Math.max(this.#now, timeMs);
    await this.settle();
  }

  /**
   * Moves time, timer by timer, until `until` settles (a promise) or returns true (a
   * predicate); returns the promise's value. Throws {@link VirtualTimeExceededError} when
   * `maxMs` of virtual time pass first, or when nothing is pending that could ever settle it
   * (a deadlock, reported instead of hanging the test).
   */
  async runUntil<T>(
    until: Promise<T> | (() => boolean),
    options: RunUntilOptions = {},
  ): Promise<T | undefined> {
    const maxMs = options.maxMs ?? 3_600_000;
    checkDelay(maxMs, "runUntil maxMs");
    const limit = this.#now + maxMs;
    let done = false;
    let value: T | undefined;
    let failure: { error: unknown } | undefined;
    const check =
      typeof until === "function"
        ? () => {
            done ||= until();
          }
        : undefined;
    if (typeof until !== "function") {
      until.then(
        (v) => {
          done = true;
          value = v;
        },
        (error: unknown) => {
          done = true;
          failure = { error };
        },
      );
    }
    const finished = (): boolean => {
      check?.();
      return done;
    };
    await this.settle();
    while (!finished()) {
      const next = this.#popDue(limit);
      if (!next) {
        if (this.#realWork > 0) {
          await this.settle(); // tracked real work may still bring what we wait for
          continue;
        }
        // Nothing due in time. Work may still be flowing through immediates: give it a while.
        for (let i = 0; i < 200 && !finished(); i++) await nextTurn();
        if (finished()) break;
        const pending = this.nextTimerAt();
        const why =
          pending === undefined
            ? "no timer is pending, so it can never happen (deadlock)"
            : `the next timer is at ${pending} ms, past the ${maxMs} ms limit`;
        throw new VirtualTimeExceededError(
          `runUntil: not settled at virtual time ${this.#now} ms: ${why}. ` +
            "Check for a frame that is never forwarded or a wait with no deadline.",
        );
      }
      this.#now = Math.max(this.#now, next.at);
      this.#fire(next);
      await this.settle();
    }
    if (failure) throw failure.error;
    return value;
  }

  /**
   * Fires every pending timer, in order, until none is left. Throws when time would pass
   * `maxMs` (a periodic timer never lets the clock run dry).
   */
  async runAll(options: RunUntilOptions = {}): Promise<void> {
    await this.runUntil(() => this.#live === 0, options);
  }

  #fire(timer: VirtualTimer): void {
    this.#live--;
    timer.cancelled = true;
    timer.callback();
  }

  #popDue(limit: number): VirtualTimer | undefined {
    this.#dropCancelledHead();
    const head = this.#heap.peek();
    if (!head || head.at > limit) return undefined;
    this.#heap.pop();
    return head;
  }

  #dropCancelledHead(): void {
    while (this.#heap.peek()?.cancelled) {
      this.#heap.pop();
      this.#cancelledInHeap--;
    }
  }

  /**
   * A cancelled timer stays in the heap until its time comes (removing it from the middle costs a
   * search), but lets go of its callback at once, and the heap is rebuilt without the cancelled
   * ones once they are most of it: a timer re-armed on every send (a keep-alive) would otherwise
   * keep every callback, and whatever it holds, until its due time, and the heap would grow with
   * the sends.
   */
  #forget(timer: VirtualTimer): void {
    timer.callback = NOOP;
    this.#cancelledInHeap++;
    if (this.#cancelledInHeap > 64 && this.#cancelledInHeap * 2 > this.#heap.size) {
      this.#heap.removeWhere((t) => t.cancelled);
      this.#cancelledInHeap = 0;
    }
  }
}
