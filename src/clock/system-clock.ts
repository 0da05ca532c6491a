import { performance } from "node:perf_hooks";
import { BaseClock, type TimerHandle } from "./clock.js";

/**
 * The real, monotonic clock: `now()` is `performance.now()` relative to when the clock was
 * created, and timers are Node timers. Use one per task or share one per process; both work.
 */
export class SystemClock extends BaseClock {
  readonly #origin = performance.now();

  now(): number {
    return performance.now() - this.#origin;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  }
}
