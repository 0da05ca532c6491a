import { performance } from "node:perf_hooks";
import { BaseClock, type TimerHandle, checkDelay } from "./clock.js";

/**
 * The real, monotonic clock: `now()` is `performance.now()` relative to when the clock was
 * created, and timers are Node timers. Use one per task or share one per process; both work.
 */
export class SystemClock extends BaseClock {
  readonly #origin = performance.now();
  readonly #keepAlive: boolean;

  /**
   * @param options.keepAlive - Whether a pending timer keeps the process alive. False for
   *   background watchers (e.g. `EventLoopStallMonitor`) that must never hold a process open
   *   (Node's `unref`). @default true
   */
  constructor(options: { keepAlive?: boolean } = {}) {
    super();
    this.#keepAlive = options.keepAlive ?? true;
  }

  now(): number {
    return performance.now() - this.#origin;
  }

  /**
   * Node counts timers from the event loop's cached time, which can lag `performance.now()`,
   * so a timer may fire a little early by this clock. A timer that fires early is re-armed for
   * what is left: a callback never runs before `now()` has reached its due time. A delay longer
   * than a Node timer can hold (about 24.8 days) is waited in steps, not fired at once.
   */
  setTimer(callback: () => void, delayMs: number): TimerHandle {
    checkDelay(delayMs);
    const due = this.now() + Math.max(0, delayMs);
    let handle: NodeJS.Timeout;
    const fire = (): void => {
      const left = due - this.now();
      if (left > 0) {
        handle = this.#arm(fire, left);
        return;
      }
      callback();
    };
    handle = this.#arm(fire, delayMs);
    return { cancel: () => clearTimeout(handle) };
  }

  #arm(fire: () => void, delayMs: number): NodeJS.Timeout {
    const handle = setTimeout(fire, nodeDelay(delayMs));
    if (!this.#keepAlive) handle.unref();
    return handle;
  }
}

/** Longest delay a Node timer holds; past it Node fires after 1 ms (with a warning). */
const MAX_NODE_DELAY_MS = 2_147_483_647;

function nodeDelay(ms: number): number {
  return Math.min(MAX_NODE_DELAY_MS, Math.max(0, Math.ceil(ms)));
}
