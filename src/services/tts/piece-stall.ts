import type { Clock, TimerHandle } from "../../clock/clock.js";

/** What a piece was waiting for when its stall bound ran out. */
export type StallPhase =
  /** The provider's connection to reopen: the request had not gone out yet. */
  | "connection"
  /** The engine's next output, after the request went out. */
  | "engine";

/**
 * The stall bound of one piece being synthesised (docs/design/tts-services.md, "Stalls and
 * reconnects"): `stallTimeoutMs` is the longest time without progress, and progress is the
 * connection coming back (the request goes out then) or an output from the engine. So the bound
 * is measured per phase:
 *
 * - **connection** ({@link connection}): the piece waits for the provider's socket to reopen. The
 *   bound starts with the wait. The wait is not marked as real I/O: the socket marks its own
 *   attempts, and its backoff waits must fire on a `VirtualClock` (docs/design/clock.md).
 * - **engine** ({@link waiting} … {@link progressed}): the bound starts when the base starts
 *   waiting for the next output, and again when a connection wait inside that wait ends (the
 *   request was sent then, not when the piece was queued). The wait is marked as real I/O.
 *
 * - **aside** ({@link aside}): the piece waits out the provider's own rate limit before it is sent.
 *   Not a stall: no bound (the limit says how long), no real-I/O mark (it is a timer of the clock);
 *   the engine's bound starts again when it ends.
 *
 * When the bound runs out, `onStall(phase)` is called, once; the owner aborts the piece.
 * Holds one timer and one mark at most; {@link stop} releases both.
 */
export class PieceStall {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #onStall: (phase: StallPhase) => void;
  #phase: StallPhase | "aside" = "engine";
  /** The base is waiting for the engine's next output. */
  #waiting = false;
  #stalled = false;
  #stopped = false;
  #timer: TimerHandle | undefined;
  /** Ends the current real-I/O mark. */
  #endMark: (() => void) | undefined;
  #connectionSince = 0;
  #connectionWaitedMs = 0;

  constructor(clock: Clock, timeoutMs: number, onStall: (phase: StallPhase) => void) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#onStall = onStall;
  }

  /** Time the piece has waited for the connection, in ms: the waits that ended and the one under way. */
  get connectionWaitedMs(): number {
    const current = this.#phase === "connection" ? this.#clock.now() - this.#connectionSince : 0;
    return this.#connectionWaitedMs + current;
  }

  /** The base starts waiting for the engine's next output. */
  waiting(): void {
    if (this.#stopped) return;
    this.#waiting = true;
    if (this.#phase === "engine") this.#arm(true);
  }

  /** The engine gave an output (or finished): the wait is over. */
  progressed(): void {
    this.#waiting = false;
    this.#disarm();
  }

  /**
   * Waits for `opened` (the provider's connection reopening) as a connection wait: its own bound,
   * no real-I/O mark, and the engine's bound restarted once it ends. A wait inside another
   * connection wait is part of it.
   */
  async connection<T>(opened: Promise<T>): Promise<T> {
    if (this.#phase !== "engine" || this.#stalled || this.#stopped) return opened;
    this.#disarm();
    this.#phase = "connection";
    this.#connectionSince = this.#clock.now();
    this.#arm(false);
    try {
      return await opened;
    } finally {
      this.#connectionWaitedMs += this.#clock.now() - this.#connectionSince;
      this.#phase = "engine";
      this.#disarm();
      if (this.#waiting && !this.#stalled && !this.#stopped) this.#arm(true);
    }
  }

  /**
   * Waits for `until` (a provider's rate limit) outside the stall bound: no timer, no real-I/O
   * mark, and the engine's bound restarted once it ends. A wait inside another wait is part of it.
   */
  async aside<T>(until: Promise<T>): Promise<T> {
    if (this.#phase !== "engine" || this.#stalled || this.#stopped) return until;
    this.#disarm();
    this.#phase = "aside";
    try {
      return await until;
    } finally {
      this.#phase = "engine";
      if (this.#waiting && !this.#stalled && !this.#stopped) this.#arm(true);
    }
  }

  /** The piece is over: the timer and the mark go. */
  stop(): void {
    this.#stopped = true;
    this.#waiting = false;
    this.#disarm();
  }

  #arm(markIo: boolean): void {
    const phase = this.#phase === "connection" ? "connection" : "engine";
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#stalled = true;
      this.#endMark?.();
      this.#endMark = undefined;
      this.#onStall(phase);
    }, this.#timeoutMs);
    if (markIo) {
      void this.#clock.track(
        new Promise<void>((resolve) => {
          this.#endMark = resolve;
        }),
      );
    }
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#endMark?.();
    this.#endMark = undefined;
  }
}
