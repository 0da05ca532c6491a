import type { Clock, TimerHandle } from "../../clock/clock.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { describe } from "../../errors.js";

/** Options of {@link Liveness}. */
export interface LivenessOptions {
  /** Who is asking, for the deadline's name. */
  readonly owner: string;
  /** Keeps the provider from closing an idle stream: `send` when nothing was sent for `intervalMs`. */
  readonly keepAlive?: { readonly intervalMs: number; readonly send: () => void } | undefined;
  /**
   * Finds a dead server: when nothing came from it for `intervalMs`, `send` a ping and wait up to
   * `timeoutMs` for a pong or any message.
   */
  readonly ping?:
    { readonly intervalMs: number; readonly timeoutMs: number; readonly send: () => void } | undefined;
  /** The server missed its pong. Called at most once; the liveness has stopped itself first. */
  readonly onDead: (why: string) => void;
}

/**
 * The keep-alive and dead-server watch of one open connection: at most two clock timers (one
 * for each) and one pong wait at a time, all gone after {@link stop}.
 *
 * A timer fires at most once per interval and re-arms from the last activity, so sending or
 * receiving costs a clock read, not a timer. The pong wait is real I/O (`deadline(…, { io: true })`,
 * docs/design/clock.md): a virtual clock holds its time while the ping is out, so a healthy
 * loopback server is never declared dead in virtual time; a test of a dead server runs on the
 * system clock.
 *
 * Bound: a server that stops sending and answering is declared dead within
 * `ping.intervalMs + ping.timeoutMs` of its last message.
 */
export class Liveness {
  readonly #clock: Clock;
  readonly #options: LivenessOptions;
  readonly #stop = new AbortController();
  #lastSentAt: number;
  #lastReceivedAt: number;
  #keepAliveTimer: TimerHandle | undefined;
  #pingTimer: TimerHandle | undefined;
  #pongWaiter: (() => void) | undefined;

  constructor(clock: Clock, options: LivenessOptions) {
    this.#clock = clock;
    this.#options = options;
    this.#lastSentAt = this.#lastReceivedAt = clock.now();
  }

  /** Starts the timers (from now). */
  start(): void {
    if (this.#stop.signal.aborted) return;
    if (this.#options.keepAlive) this.#armKeepAlive(this.#options.keepAlive.intervalMs);
    if (this.#options.ping) this.#armPing(this.#options.ping.intervalMs);
  }

  /** Something was sent to the server. */
  sent(): void {
    this.#lastSentAt = this.#clock.now();
  }

  /** Something (a message or a pong) came from the server. */
  received(): void {
    this.#lastReceivedAt = this.#clock.now();
    const waiter = this.#pongWaiter;
    this.#pongWaiter = undefined;
    waiter?.();
  }

  /** Stops every timer and the pong wait. Idempotent. */
  stop(): void {
    this.#stop.abort();
    this.#keepAliveTimer?.cancel();
    this.#pingTimer?.cancel();
    this.#keepAliveTimer = this.#pingTimer = undefined;
  }

  #armKeepAlive(delayMs: number): void {
    this.#keepAliveTimer = this.#clock.setTimer(() => this.#keepAliveDue(), delayMs);
  }

  #keepAliveDue(): void {
    const keepAlive = this.#options.keepAlive;
    if (this.#stop.signal.aborted || !keepAlive) return;
    const idleMs = this.#clock.now() - this.#lastSentAt;
    if (idleMs >= keepAlive.intervalMs) {
      keepAlive.send();
      this.#lastSentAt = this.#clock.now();
      this.#armKeepAlive(keepAlive.intervalMs);
    } else {
      this.#armKeepAlive(keepAlive.intervalMs - idleMs);
    }
  }

  #armPing(delayMs: number): void {
    this.#pingTimer = this.#clock.setTimer(() => void this.#pingDue(), delayMs);
  }

  async #pingDue(): Promise<void> {
    const ping = this.#options.ping;
    if (this.#stop.signal.aborted || !ping) return;
    this.#pingTimer = undefined;
    const quietMs = this.#clock.now() - this.#lastReceivedAt;
    if (quietMs < ping.intervalMs) {
      this.#armPing(ping.intervalMs - quietMs);
      return;
    }
    try {
      await deadline(
        this.#clock,
        (signal) =>
          new Promise<void>((resolve, reject) => {
            // Settles on abort too, so a virtual clock never counts it as real work in flight.
            const onAbort = (): void => {
              this.#pongWaiter = undefined;
              reject(signal.reason);
            };
            signal.addEventListener("abort", onAbort, { once: true });
            this.#pongWaiter = () => {
              signal.removeEventListener("abort", onAbort);
              resolve();
            };
            ping.send();
          }),
        ping.timeoutMs,
        `${this.#options.owner}: pong from the provider`,
        { io: true, signal: this.#stop.signal },
      );
    } catch (error) {
      if (this.#stop.signal.aborted) return;
      this.stop();
      this.#options.onDead(
        error instanceof DeadlineExceededError
          ? `no pong or message from the provider within ${ping.timeoutMs} ms of a ping (after ${ping.intervalMs} ms of silence)`
          : `the ping could not be sent (${describe(error)})`,
      );
      return;
    }
    if (!this.#stop.signal.aborted) this.#armPing(ping.intervalMs);
  }
}
