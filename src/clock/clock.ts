import { whenAborted } from "./when-aborted.js";

/**
 * A handle to a scheduled callback. `cancel()` is idempotent and safe to call after the
 * callback has fired.
 */
export interface TimerHandle {
  cancel(): void;
}

/**
 * The source of time for a pipeline task. Every timer and every timestamp in voicepipe goes
 * through a `Clock` (docs/design/clock.md), so tests can play minutes of conversation in
 * milliseconds on a {@link VirtualClock} and production code runs on a {@link SystemClock}.
 *
 * Times are milliseconds of monotonic running time (never wall-clock time).
 */
export interface Clock {
  /** Milliseconds of running time. Monotonic: never goes backwards. */
  now(): number;
  /**
   * Calls `callback` once, `delayMs` from now (0 or negative: on the next timer turn, never
   * synchronously). Returns a handle that cancels it. Throws a `RangeError` for a delay that is
   * not a number or not finite: a timer due at `NaN` would fire never or at once, and a bug that
   * computes one must surface where it happens.
   */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  /**
   * Resolves at `timeMs` of running time (at once, but asynchronously, if it has passed).
   * Rejects with `signal.reason` when `signal` aborts first; the timer is cleared either way.
   */
  waitUntil(timeMs: number, signal?: AbortSignal): Promise<void>;
  /** Resolves `delayMs` from now; rejects with `signal.reason` when `signal` aborts first. */
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Marks `work` as real work (file or network I/O, loading WebAssembly or a model, native
   * inference) and returns it. The system clock ignores the mark; a {@link VirtualClock} fires
   * no timer while marked work is in flight, so a deadline cannot fire in virtual time while
   * the real work it guards is still under way. Never mark a wait on the clock itself.
   */
  track<T>(work: Promise<T>): Promise<T>;
}

/**
 * Implements `waitUntil` and `sleep` on top of `now` and `setTimer`, so each concrete clock
 * only has to provide those two.
 */
export abstract class BaseClock implements Clock {
  abstract now(): number;
  abstract setTimer(callback: () => void, delayMs: number): TimerHandle;

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return this.waitUntil(this.now() + delayMs, signal);
  }

  track<T>(work: Promise<T>): Promise<T> {
    return work;
  }

  waitUntil(timeMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const timer = this.setTimer(() => {
        stopWaiting?.();
        resolve();
      }, timeMs - this.now());
      const stopWaiting = signal
        ? whenAborted(signal, () => {
            timer.cancel();
            reject(signal.reason);
          })
        : undefined;
    });
  }
}

/** Throws a `RangeError` unless `delayMs` is a finite number (shared by the clocks). */
export function checkDelay(delayMs: number, what = "delayMs"): void {
  if (typeof delayMs !== "number" || !Number.isFinite(delayMs)) {
    throw new RangeError(`Clock: ${what} must be a finite number of ms (got ${String(delayMs)})`);
  }
}
