import type { Clock, TimerHandle } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";

export { DeadlineExceededError };

/**
 * Waits for `work` at most `timeoutMs` on `clock`: resolves with its value, rejects with its
 * error, with a {@link DeadlineExceededError} when the deadline passes first, or with
 * `signal.reason` when `signal` aborts first. The timer and the listener are removed whichever
 * comes first; a late rejection of `work` is swallowed (the caller has moved on).
 *
 * `work` may be a plain value or a function that returns one (a function that throws rejects).
 * It is not marked as real work: code doing real I/O marks it itself with `clock.track()`,
 * so a deadline on a `VirtualClock` still fires for work that never settles.
 */
export function withDeadline<T>(
  clock: Clock,
  work: Promise<T> | T | (() => Promise<T> | T),
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
): Promise<T> {
  // One implementation of a deadline: this only adapts plain values and argument-less functions.
  const run = (): Promise<T> =>
    Promise.resolve(typeof work === "function" ? (work as () => Promise<T> | T)() : work);
  return deadline(clock, run, timeoutMs, what, signal ? { signal } : {});
}

/**
 * A deadline for a stream of calls made one at a time (a sender's writes, dozens a second),
 * without a timer per call: one clock timer, armed for the call in flight and re-armed only
 * when it fires early, so a call that settles in time costs no timer at all. {@link run} rejects
 * with a {@link DeadlineExceededError} once the call in flight has taken `timeoutMs`.
 * {@link dispose} clears the timer.
 */
export class CallDeadline {
  #timer: TimerHandle | undefined;
  #inFlight: { startedAt: number; what: string; reject: (error: unknown) => void } | undefined;

  constructor(
    private readonly clock: Clock,
    readonly timeoutMs: number,
  ) {}

  /** Runs `call` (one at a time) with the deadline; a plain value or a sync throw settles at once. */
  run<T>(call: () => Promise<T> | T, what: string): Promise<T> {
    let pending: Promise<T> | T;
    try {
      pending = call();
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof (pending as { then?: unknown } | null | undefined)?.then !== "function") {
      return Promise.resolve(pending);
    }
    return new Promise<T>((resolve, reject) => {
      const entry = { startedAt: this.clock.now(), what, reject };
      this.#inFlight = entry;
      this.#arm(entry.startedAt + this.timeoutMs);
      Promise.resolve(pending).then(
        (value) => {
          if (this.#inFlight === entry) this.#inFlight = undefined;
          resolve(value);
        },
        (error: unknown) => {
          if (this.#inFlight === entry) this.#inFlight = undefined;
          reject(error);
        },
      );
    });
  }

  /** Clears the timer (the call in flight, if any, is left to settle on its own). */
  dispose(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#inFlight = undefined;
  }

  #arm(due: number): void {
    if (this.#timer) return; // armed for an earlier call: it re-arms for this one when it fires
    this.#timer = this.clock.setTimer(() => this.#check(), due - this.clock.now());
  }

  #check(): void {
    this.#timer = undefined;
    const entry = this.#inFlight;
    if (!entry) return;
    const due = entry.startedAt + this.timeoutMs;
    if (this.clock.now() < due) {
      this.#arm(due);
      return;
    }
    this.#inFlight = undefined;
    entry.reject(new DeadlineExceededError(entry.what, this.timeoutMs));
  }
}
