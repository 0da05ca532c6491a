import type { Clock, TimerHandle } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import { type EventMap, TypedEvents } from "../events.js";
import { type Logger, createConsoleLogger } from "../logger.js";

/** One stall of the event loop. */
export interface EventLoopStall {
  /**
   * How long no timer could run, in ms: the gap between two ticks that were due
   * `sampleIntervalMs` apart. At least as long as the block, at most `sampleIntervalMs` longer.
   */
  readonly lengthMs: number;
  /** When it ended, in ms on the monitor's clock. */
  readonly atMs: number;
  /** Stalls since the monitor started, this one included. */
  readonly count: number;
}

/** Events of an {@link EventLoopStallMonitor}. */
export interface EventLoopStallEvents extends EventMap {
  /** The event loop was blocked past the threshold (one event per stall). */
  stall: (stall: EventLoopStall) => void;
}

/** Options of an {@link EventLoopStallMonitor}. */
export interface EventLoopStallMonitorOptions {
  /** A stall is a block longer than this, in ms. @default 100 */
  thresholdMs?: number;
  /** Time between two ticks of the watch, in ms; bounds how much a stall's length is over-stated. @default 20 */
  sampleIntervalMs?: number;
  /** Least time between two warnings in the log, in ms; stalls in between are counted into the next. @default 10000 */
  warnIntervalMs?: number;
  /** Where warnings go. @default a console logger at warn */
  logger?: Logger;
  /** Real time. A virtual clock has no event loop to watch. @default a `SystemClock` whose timers never keep the process alive */
  clock?: Clock;
  /** Name for logs. @default "EventLoopStallMonitor" */
  name?: string;
}

/**
 * Warns when the event loop was blocked: a long synchronous computation, a sync file read, a
 * model run on the main thread — anything that makes every session of the process late at once
 * (docs/design/metrics.md). One per process is enough (the loop is shared by every task); the
 * dev server starts one.
 *
 * How: a timer ticks every `sampleIntervalMs` on a real clock; a tick that comes more than
 * `thresholdMs` late closes a stall, whose length is the gap since the previous tick. (Node's
 * `monitorEventLoopDelay` histogram would need a polling timer as well and merges the stalls
 * between two polls; a tick's own lateness gives one event per stall, with its length.)
 *
 * Guarantees: one `stall` event per stall; the log says the first stall at once and then at
 * most one line per `warnIntervalMs`, counting the stalls in between (and a last summary at
 * `stop()`); its timer never keeps the process alive; `stop()` leaves no timer; constant memory.
 *
 * @example
 * const monitor = new EventLoopStallMonitor({ logger });
 * monitor.start();
 * // … on shutdown
 * monitor.stop();
 */
export class EventLoopStallMonitor {
  readonly name: string;
  readonly thresholdMs: number;
  readonly sampleIntervalMs: number;
  readonly #warnIntervalMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #events: TypedEvents<EventLoopStallEvents>;
  #timer: TimerHandle | undefined;
  #lastTickMs = 0;
  #stalls = 0;
  #longestMs = 0;
  #lastWarnMs = Number.NEGATIVE_INFINITY;
  /** Stalls not yet in a log line, and the longest of them. */
  #unsaid = 0;
  #unsaidLongestMs = 0;

  constructor(options: EventLoopStallMonitorOptions = {}) {
    this.name = options.name ?? "EventLoopStallMonitor";
    this.thresholdMs = positive(this.name, "thresholdMs", options.thresholdMs, 100);
    this.sampleIntervalMs = positive(this.name, "sampleIntervalMs", options.sampleIntervalMs, 20);
    this.#warnIntervalMs = positive(this.name, "warnIntervalMs", options.warnIntervalMs, 10_000, true);
    this.#logger = options.logger ?? createConsoleLogger("warn");
    this.#clock = options.clock ?? new SystemClock({ keepAlive: false });
    this.#events = new TypedEvents<EventLoopStallEvents>(this.name, () => this.#logger);
  }

  /** Adds a handler; returns a function that removes it. */
  on<K extends keyof EventLoopStallEvents>(event: K, handler: EventLoopStallEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** Stalls seen since start. */
  get stalls(): number {
    return this.#stalls;
  }

  /** The longest stall seen, in ms (0 if none). */
  get longestMs(): number {
    return this.#longestMs;
  }

  /** Whether it is watching. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts watching (idempotent). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastTickMs = this.#clock.now();
    this.#timer = this.#clock.setTimer(() => this.#tick(), this.sampleIntervalMs);
  }

  /** Stops watching and says the stalls not yet said (idempotent). No timer is left. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#unsaid > 0) this.#warn(this.#unsaidLongestMs);
  }

  #tick(): void {
    const now = this.#clock.now();
    const gap = now - this.#lastTickMs;
    this.#lastTickMs = now;
    this.#timer = this.#clock.setTimer(() => this.#tick(), this.sampleIntervalMs);
    if (gap - this.sampleIntervalMs > this.thresholdMs) this.#onStall(gap, now);
  }

  #onStall(lengthMs: number, atMs: number): void {
    this.#stalls++;
    this.#longestMs = Math.max(this.#longestMs, lengthMs);
    this.#unsaid++;
    this.#unsaidLongestMs = Math.max(this.#unsaidLongestMs, lengthMs);
    if (atMs - this.#lastWarnMs >= this.#warnIntervalMs) {
      this.#lastWarnMs = atMs;
      this.#warn(this.#unsaidLongestMs);
    }
    this.#events.emit("stall", { lengthMs, atMs, count: this.#stalls });
  }

  #warn(lengthMs: number): void {
    const n = this.#unsaid;
    const rounded = Math.round(lengthMs);
    const text =
      n === 1
        ? `${this.name}: the event loop was blocked for ${rounded} ms (over ${this.thresholdMs} ms): every session of this process was late by as much. Move heavy work off the main thread`
        : `${this.name}: ${n} event-loop stalls over ${this.thresholdMs} ms since the last warning, the longest ${rounded} ms`;
    this.#logger.warn(text, { monitor: this.name, lengthMs: rounded, stalls: this.#stalls });
    this.#unsaid = 0;
    this.#unsaidLongestMs = 0;
  }
}

function positive(
  owner: string,
  name: string,
  value: number | undefined,
  fallback: number,
  zeroOk = false,
): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || (!zeroOk && v === 0)) {
    throw new InvalidOptionError(
      `${owner}: ${name} must be a finite number of ms ${zeroOk ? "≥ 0" : "above 0"} (got ${String(value)})`,
    );
  }
  return v;
}
