import { InvalidOptionError } from "../../errors.js";

/** Reconnect settings of a {@link ProviderSocket} (docs/design/provider-socket.md). */
export interface BackoffOptions {
  /** Wait before the first retry, in ms. Must be > 0, so a refusing server is never hammered. @default 250 */
  initialDelayMs?: number;
  /** Each further retry waits this many times longer than the one before. ≥ 1. @default 2 */
  factor?: number;
  /** Longest wait between two attempts, in ms. ≥ `initialDelayMs`. @default 5000 */
  maxDelayMs?: number;
  /**
   * Connection attempts in a row that may fail (counting the first) before the socket gives up
   * with a permanent error. A connection that dropped before it stayed up `stableAfterMs` counts
   * as a failed attempt. A whole number from 1 (never retry) to 100. @default 5
   */
  maxAttempts?: number;
  /**
   * Share of each wait (0–1) that may be taken off at random, so many sessions cut off at once do
   * not all come back in the same millisecond. A wait never goes below `initialDelayMs`. @default 0
   */
  jitter?: number;
  /**
   * The random source for `jitter`: a number in [0, 1). Inject one in tests so waits are
   * deterministic; a value outside [0, 1) (or NaN) is clamped into it. @default Math.random
   */
  random?: () => number;
}

/** The largest `maxAttempts` accepted: past it, a "permanent" error would take hours to arrive. */
export const MAX_ATTEMPTS_LIMIT = 100;

/**
 * Exponential backoff with a give-up limit, checked once at construction: a setting that would
 * make the waits non-finite, shrinking, or endless is refused there with an
 * {@link InvalidOptionError} naming the owner and the setting.
 *
 * Guarantees: every wait is within `[initialDelayMs, maxDelayMs]`; at most `maxAttempts - 1`
 * waits before giving up. No timer of its own: the caller waits on its clock.
 */
export class Backoff {
  readonly initialDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
  readonly jitter: number;
  readonly #random: () => number;

  constructor(owner: string, options: BackoffOptions = {}) {
    const bad = (setting: string, value: unknown, want: string): never => {
      throw new InvalidOptionError(
        `${owner}: backoff.${setting} must be ${want} (got ${String(value)}); fix the reconnect settings`,
      );
    };
    this.initialDelayMs = options.initialDelayMs ?? 250;
    this.factor = options.factor ?? 2;
    this.maxDelayMs = options.maxDelayMs ?? Math.max(5_000, this.initialDelayMs);
    this.maxAttempts = options.maxAttempts ?? 5;
    this.jitter = options.jitter ?? 0;
    this.#random = options.random ?? Math.random;
    if (!isFiniteNumber(this.initialDelayMs) || this.initialDelayMs <= 0) {
      bad("initialDelayMs", this.initialDelayMs, "a finite number of ms above 0");
    }
    if (!isFiniteNumber(this.factor) || this.factor < 1) bad("factor", this.factor, "a finite number ≥ 1");
    if (!isFiniteNumber(this.maxDelayMs) || this.maxDelayMs < this.initialDelayMs) {
      bad("maxDelayMs", this.maxDelayMs, `a finite number of ms ≥ initialDelayMs (${this.initialDelayMs})`);
    }
    if (
      !Number.isInteger(this.maxAttempts) ||
      this.maxAttempts < 1 ||
      this.maxAttempts > MAX_ATTEMPTS_LIMIT
    ) {
      bad("maxAttempts", this.maxAttempts, `a whole number from 1 to ${MAX_ATTEMPTS_LIMIT}`);
    }
    if (!isFiniteNumber(this.jitter) || this.jitter < 0 || this.jitter > 1) {
      bad("jitter", this.jitter, "a number from 0 to 1");
    }
    if (typeof this.#random !== "function")
      bad("random", this.#random, "a function returning a number in [0, 1)");
  }

  /**
   * The wait, in ms, after `failures` failed attempts in a row (1 for the first failure), before
   * the next attempt. Callers give up instead once `failures >= maxAttempts`.
   */
  delayAfter(failures: number): number {
    const exponent = Math.max(0, Math.floor(failures) - 1);
    // factor ** exponent may overflow to Infinity: the min() brings it back to maxDelayMs.
    const raw = Math.min(this.maxDelayMs, this.initialDelayMs * this.factor ** exponent);
    if (this.jitter === 0) return raw;
    const r = this.#random();
    const share = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
    return Math.max(this.initialDelayMs, raw * (1 - this.jitter * share));
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}
