import type { Clock, TimerHandle } from "../clock/clock.js";

/**
 * Fires once `timeoutMs` after it is armed, unless disarmed first; counts the idles in a row
 * (a user turn resets the count). The processor arms it when the bot stops speaking and disarms
 * it when a user turn starts, the bot speaks again or a function call runs.
 */
export class UserIdleTimer {
  #timer: TimerHandle | undefined;
  #inARow = 0;

  constructor(
    private readonly clock: Clock,
    readonly timeoutMs: number,
    private readonly onIdle: (count: number) => void,
  ) {}

  get armed(): boolean {
    return this.#timer !== undefined;
  }

  arm(): void {
    this.disarm();
    this.#timer = this.clock.setTimer(() => {
      this.#timer = undefined;
      this.onIdle(++this.#inARow);
    }, this.timeoutMs);
  }

  disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** The user spoke: the next idle is the first in a row again. */
  userActive(): void {
    this.disarm();
    this.#inARow = 0;
  }
}
