import type { Clock, TimerHandle } from "../clock/clock.js";

/**
 * Fires `onIdle` when `activity()` has not been called for `timeoutMs` (task-clock time). One
 * timer at a time: activity only moves a timestamp, and the timer re-arms itself for the time
 * left when it fires early. `onIdle` returns whether to keep watching.
 */
export class IdleMonitor {
  #timer: TimerHandle | undefined;
  #lastActivity = 0;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly onIdle: (idleForMs: number) => "keep watching" | "stop",
  ) {}

  /** Whether it is watching (activity is only recorded then). */
  get watching(): boolean {
    return this.#timer !== undefined;
  }

  start(): void {
    this.#lastActivity = this.clock.now();
    this.#arm(this.timeoutMs);
  }

  /** Something that counts as activity happened. Cheap: called on pushes. */
  activity(): void {
    this.#lastActivity = this.clock.now();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(delayMs: number): void {
    this.#timer = this.clock.setTimer(() => {
      const idleFor = this.clock.now() - this.#lastActivity;
      if (idleFor < this.timeoutMs) return this.#arm(this.timeoutMs - idleFor);
      this.#timer = undefined;
      if (this.onIdle(idleFor) === "keep watching") this.start();
    }, delayMs);
  }
}

/**
 * Sends a heartbeat every `periodMs` and calls `onStall(sinceMs)` every `monitorMs` while none
 * has come back through the pipeline for `monitorMs` (a stalled ordered lane).
 */
export class HeartbeatMonitor {
  #sender: TimerHandle | undefined;
  #monitor: TimerHandle | undefined;
  #lastReceived = 0;

  constructor(
    private readonly clock: Clock,
    private readonly periodMs: number,
    private readonly monitorMs: number,
    private readonly send: () => void,
    private readonly onStall: (sinceMs: number) => void,
  ) {}

  start(): void {
    this.#lastReceived = this.clock.now();
    this.#scheduleSend();
    this.#scheduleCheck();
  }

  /** A heartbeat came out of the pipeline. */
  received(): void {
    this.#lastReceived = this.clock.now();
  }

  stop(): void {
    this.#sender?.cancel();
    this.#monitor?.cancel();
    this.#sender = this.#monitor = undefined;
  }

  #scheduleSend(): void {
    this.#sender = this.clock.setTimer(() => {
      this.send();
      this.#scheduleSend();
    }, this.periodMs);
  }

  #scheduleCheck(): void {
    this.#monitor = this.clock.setTimer(() => {
      const since = this.clock.now() - this.#lastReceived;
      if (since >= this.monitorMs) this.onStall(since);
      this.#scheduleCheck();
    }, this.monitorMs);
  }
}
