/**
 * Pacing of an output stream: who says when the next chunk may be written
 * (docs/design/output-pacing.md). The sender asks its {@link Pacer} for a tick before every
 * write and never writes without one; every pacer the output uses is wrapped in a
 * {@link PaceLimiter}, so no pacer, however wrong, can grant more than one tick per chunk of
 * clock time plus a small burst.
 */
import type { Clock } from "../clock/clock.js";
import { nextTurn } from "../clock/next-turn.js";
import { InvalidOptionError } from "../errors.js";

/** Shortest chunk a pacer accepts, in ms: below the clock's resolution a tick would not wait. */
export const MIN_CHUNK_MS = 1;
/** Longest chunk a pacer accepts, in ms. */
export const MAX_CHUNK_MS = 60_000;

/** What a pacer paces: one stream of chunks of `chunkMs` on `clock`. */
export interface PacerTiming {
  readonly clock: Clock;
  /** Duration of one chunk, in ms: finite, from {@link MIN_CHUNK_MS} to {@link MAX_CHUNK_MS}. */
  readonly chunkMs: number;
  /** A late pacer grants at most this many ticks back to back to catch up, then re-anchors (≥ 1). */
  readonly maxCatchUpChunks: number;
}

/**
 * Grants the ticks on which an output writes its chunks. The default paces on the task clock
 * (one shared timer per phase group, see `SharedTickerPacer`). A sink with its own media clock
 * (a WebRTC track that pulls audio every 10 ms) takes the pacing role by implementing this
 * interface: `nextTick()` resolves when the sink wants its next chunk. Either way the output
 * wraps the pacer in a {@link PaceLimiter}, so a pacer that resolves too early or at once can
 * never make the output write faster than one chunk per chunk of clock time plus a small burst.
 */
export interface Pacer {
  /**
   * Resolves when the next chunk is due. Rejects with `signal.reason` when `signal` aborts, and
   * leaves no timer or listener behind either way.
   */
  nextTick(signal: AbortSignal): Promise<void>;
  /**
   * The sender has nothing to write for now: forget the schedule (no catch-up for the idle
   * time). The next `nextTick()` starts a new schedule and is due at once.
   */
  idle(): void;
  /** Times the pacer was so late that it dropped ticks and started a new schedule. */
  readonly reanchors: number;
  /** Releases timers and shared state. Idempotent; `nextTick()` must not be called after it. */
  dispose(): void;
}

/** Makes the pacer for one output destination (see `MemoryTransportOptions.pacer`). */
export type PacerFactory = (timing: PacerTiming, destination: string) => Pacer;

/** Refuses a timing that could make a tick not wait: the chunk must be a finite, positive duration. */
export function checkPacerTiming(timing: PacerTiming, who: string): PacerTiming {
  const { chunkMs, maxCatchUpChunks } = timing;
  if (
    typeof chunkMs !== "number" ||
    !Number.isFinite(chunkMs) ||
    chunkMs < MIN_CHUNK_MS ||
    chunkMs > MAX_CHUNK_MS
  ) {
    throw new InvalidOptionError(
      `${who}: the chunk duration must be a finite number of ms from ${MIN_CHUNK_MS} to ${MAX_CHUNK_MS} ` +
        `(got ${String(chunkMs)}); check the output's sample rate and audioOut10msChunks`,
    );
  }
  if (!Number.isInteger(maxCatchUpChunks) || maxCatchUpChunks < 1) {
    throw new InvalidOptionError(
      `${who}: maxCatchUpChunks must be an integer ≥ 1 (got ${String(maxCatchUpChunks)})`,
    );
  }
  return timing;
}

/**
 * One timer per stream: ticks at `anchor + index × chunkMs`, anchored when a schedule starts.
 * The first tick of a schedule comes on the next event-loop turn; every later tick waits on a
 * clock timer, even one already due (a catch-up tick), so the loop that awaits it always yields
 * to the event loop. A pacer late by more than `maxCatchUpChunks` chunks re-anchors instead of
 * writing a long burst.
 */
export class ClockPacer implements Pacer {
  readonly #clock: Clock;
  readonly #chunkMs: number;
  readonly #maxLateMs: number;
  #running = false;
  #anchor = 0;
  #index = 0;
  reanchors = 0;

  constructor(timing: PacerTiming) {
    checkPacerTiming(timing, "ClockPacer");
    this.#clock = timing.clock;
    this.#chunkMs = timing.chunkMs;
    this.#maxLateMs = timing.maxCatchUpChunks * timing.chunkMs;
  }

  async nextTick(signal: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    if (!this.#running) {
      this.#running = true;
      this.#anchor = now;
      this.#index = 0;
      // A new schedule: its first tick is due now, so it waits one event-loop turn, not a timer
      // (which Node fires 1–2 ms later).
      await nextTurn(this.#clock, signal);
      this.#index++;
      return;
    }
    let due = this.#anchor + this.#index * this.#chunkMs;
    if (now - due > this.#maxLateMs) {
      this.reanchors++;
      this.#anchor = now;
      this.#index = 0;
      due = now;
    }
    await this.#clock.waitUntil(due, signal);
    this.#index++;
  }

  idle(): void {
    this.#running = false;
  }

  dispose(): void {
    this.#running = false;
  }
}

/** Float slack when comparing token counts (chunk durations such as 40.000000000000004 ms). */
const EPSILON = 1e-6;

/**
 * Bounds any pacer by construction: a token bucket on the clock that holds at most
 * `maxCatchUpChunks + 1` ticks and refills one tick per `chunkMs`. A tick the inner pacer grants
 * without a token waits on the clock for one. So over any stretch of `T` ms the output writes at
 * most `T / chunkMs + maxCatchUpChunks + 1` chunks, whatever the inner pacer does.
 */
export class PaceLimiter implements Pacer {
  readonly #inner: Pacer;
  readonly #clock: Clock;
  readonly #chunkMs: number;
  readonly #capacity: number;
  #tokens: number;
  #at: number;
  /** Ticks the inner pacer granted early that had to wait for a token. */
  throttled = 0;

  constructor(inner: Pacer, timing: PacerTiming) {
    checkPacerTiming(timing, "PaceLimiter");
    this.#inner = inner;
    this.#clock = timing.clock;
    this.#chunkMs = timing.chunkMs;
    this.#capacity = timing.maxCatchUpChunks + 1;
    this.#tokens = this.#capacity;
    this.#at = this.#clock.now();
  }

  get reanchors(): number {
    return this.#inner.reanchors;
  }

  async nextTick(signal: AbortSignal): Promise<void> {
    await this.#inner.nextTick(signal);
    this.#refill();
    if (this.#tokens < 1 - EPSILON) {
      this.throttled++;
      await this.#clock.waitUntil(this.#at + (1 - this.#tokens) * this.#chunkMs, signal);
      this.#refill();
    }
    this.#tokens = Math.max(0, this.#tokens - 1);
  }

  idle(): void {
    this.#inner.idle();
  }

  dispose(): void {
    this.#inner.dispose();
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) / this.#chunkMs);
    this.#at = now;
  }
}
