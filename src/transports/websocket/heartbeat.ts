import type { Clock, TimerHandle } from "../../clock/clock.js";

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** Time between pings, in ms of the task clock. */
  readonly intervalMs: number;
  /** Pings in a row left unanswered before the peer is declared gone. */
  readonly maxMissed: number;
  /** Sends one ping. */
  readonly ping: () => void;
  /** The peer missed `maxMissed` pings in a row. Called once; the heartbeat stops itself first. */
  readonly onDead: (missed: number) => void;
}

/**
 * Pings a peer on the clock and says when it stopped answering: a half-open socket (the peer's
 * machine vanished, a NAT dropped the mapping) sends no close and no error, so only a missing
 * pong reveals it. Anything from the peer ({@link alive}) counts as an answer.
 *
 * Bound: a peer that stops answering right after a ping is declared dead at the
 * `maxMissed + 1`-th tick after it, so within `(maxMissed + 1) × intervalMs`.
 * One timer at a time; {@link stop} cancels it (idempotent).
 */
export class Heartbeat {
  readonly #clock: Clock;
  readonly #options: HeartbeatOptions;
  #timer: TimerHandle | undefined;
  #answered = true;
  #missed = 0;
  #stopped = false;

  constructor(clock: Clock, options: HeartbeatOptions) {
    this.#clock = clock;
    this.#options = options;
  }

  /** Starts pinging; the first ping goes `intervalMs` from now. */
  start(): void {
    if (this.#stopped || this.#timer) return;
    this.#schedule();
  }

  /** The peer answered (a pong, or any message). */
  alive(): void {
    this.#answered = true;
    this.#missed = 0;
  }

  /** Pings in a row still unanswered. */
  get missed(): number {
    return this.#missed;
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimer(() => this.#tick(), this.#options.intervalMs);
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (!this.#answered) this.#missed++;
    if (this.#missed >= this.#options.maxMissed) {
      this.stop();
      this.#options.onDead(this.#missed);
      return;
    }
    this.#answered = false;
    this.#options.ping();
    this.#schedule();
  }
}
