import type { Clock, TimerHandle } from "../clock/clock.js";
import type { Frame } from "../frames/frame.js";
import { turnStore } from "../processors/turn.js";

/** Longest a transcript is held for an interruption that does not come (the task refused it), in ms. */
const MAX_HOLD_MS = 1000;
/** Most transcripts held; one more releases them all. */
const MAX_FRAMES = 64;

/**
 * Holds the transcripts that arrive between a turn start and the interruption it asked for.
 * An interruption drops the data frames queued in every processor it passes: a transcript pushed
 * ahead of it (often the very transcript that started the turn) would be dropped downstream as
 * if it were the bot's stale output. Held, it follows the interruption instead. Bounded in time
 * (1 s) and size (64 frames).
 */
export class HeldTranscripts {
  readonly #frames: Frame[] = [];
  #holding = false;
  #timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly push: (frame: Frame) => void | Promise<void>,
  ) {}

  get holding(): boolean {
    return this.#holding;
  }

  /** An interruption was asked for: hold transcripts until {@link release} (at most 1 s). */
  holdUntilReleased(): void {
    this.#holding = true;
    this.#timer ??= this.clock.setTimer(() => {
      this.#timer = undefined;
      this.release();
    }, MAX_HOLD_MS);
  }

  hold(frame: Frame): void {
    this.#frames.push(frame);
    if (this.#frames.length >= MAX_FRAMES) this.release();
  }

  /** The interruption passed (or will not come): forward what was held, in order. */
  release(): void {
    this.#holding = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#frames.length === 0) return;
    const frames = this.#frames.splice(0);
    // The user's words belong to no turn of this processor: an interruption that ended the
    // lane's turn since they were held must not make them stale.
    turnStore.exit(() => {
      for (const f of frames) void this.push(f);
    });
  }

  stop(): void {
    this.#holding = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#frames.length = 0;
  }
}
