import type { TimerHandle } from "../clock/clock.js";
import { BotStartedSpeakingFrame, BotStoppedSpeakingFrame } from "../frames/speaking.js";
import type { Frame } from "../frames/frame.js";
import { PendingFunctionCalls } from "./pending-function-calls.js";
import { TurnStrategy, checkMs } from "./turn-strategy.js";

/**
 * Decides when the bot ignores the user. The processor shows every frame except audio to every
 * mute strategy (both directions), and the user is muted while any says {@link muted}. While
 * muted no turn starts, nothing is interrupted and transcripts are dropped; the processor
 * broadcasts `UserMuteStartedFrame` / `UserMuteStoppedFrame` when that changes.
 *
 * Guarantee every strategy keeps: a mute ends once its condition ends, and a condition that
 * never ends (a bot that never speaks, a call that never settles) is bounded by `maxMuteMs`.
 */
export abstract class UserMuteStrategy extends TurnStrategy {
  /** Whether this strategy mutes the user now. */
  abstract get muted(): boolean;
  /** Reads a frame (any but audio, either direction). */
  abstract observe(frame: Frame): void;
}

/**
 * Mutes the user every time the bot speaks (`BotStartedSpeakingFrame` … `BotStoppedSpeakingFrame`):
 * "always" as in "the bot is never interrupted". The output transport always sends the stop
 * (end of speech, interruption or its silence fallback), so the mute always ends.
 */
export class AlwaysMuteStrategy extends UserMuteStrategy {
  #botSpeaking = false;
  get muted(): boolean {
    return this.#botSpeaking;
  }
  observe(frame: Frame): void {
    if (frame instanceof BotStartedSpeakingFrame) this.#botSpeaking = true;
    else if (frame instanceof BotStoppedSpeakingFrame) this.#botSpeaking = false;
  }
}

/** Options of the mute strategies that wait on something that may never come. */
export interface BoundedMuteOptions {
  /** Longest mute, in ms (1 … 600000); past it the user is heard again and it is said once. */
  maxMuteMs?: number;
}

/** A mute with a bound: the subclass says when it starts and ends; this class times it out. */
abstract class BoundedMuteStrategy extends UserMuteStrategy {
  readonly maxMuteMs: number;
  #timer: TimerHandle | undefined;
  #timedOut = false;

  constructor(options: BoundedMuteOptions, defaultMs: number) {
    super();
    this.maxMuteMs = checkMs(this.name, "maxMuteMs", options.maxMuteMs ?? defaultMs, 1, 600_000);
  }

  get muted(): boolean {
    return this.condition && !this.#timedOut;
  }

  /** Whether the condition for muting holds. */
  protected abstract get condition(): boolean;
  /** The condition's wait ran out: forget it. */
  protected abstract giveUp(): void;

  /** Call after the condition may have changed: arms or cancels the bound. */
  protected conditionChanged(): void {
    if (!this.condition) {
      this.#timedOut = false;
      this.#timer?.cancel();
      this.#timer = undefined;
    } else if (this.#timer === undefined && !this.#timedOut) {
      this.#timer = this.host.clock.setTimer(() => {
        this.#timer = undefined;
        this.host.reportOnce(
          `mute-bound:${this.name}`,
          () =>
            `${this.host.name}: ${this.name} muted the user for maxMuteMs (${this.maxMuteMs} ms) without its ` +
            `condition ending; the user is heard again`,
        );
        this.giveUp();
        this.#timedOut = this.condition;
        this.host.refreshMute();
      }, this.maxMuteMs);
    }
  }

  override stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/**
 * Mutes the user from the start until the bot's first answer is complete (the
 * `BotStoppedSpeakingFrame` after the first `BotStartedSpeakingFrame`): the greeting is heard
 * whole. Bounded by `maxMuteMs` (default 30000) for a bot that never speaks first.
 */
export class FirstBotAnswerMuteStrategy extends BoundedMuteStrategy {
  #phase: "waiting" | "speaking" | "done" = "waiting";
  constructor(options: BoundedMuteOptions = {}) {
    super(options, 30_000);
  }
  protected get condition(): boolean {
    return this.#phase !== "done";
  }
  protected giveUp(): void {
    this.#phase = "done";
  }
  override start(): void {
    this.conditionChanged();
  }
  observe(frame: Frame): void {
    if (frame instanceof BotStartedSpeakingFrame && this.#phase === "waiting") this.#phase = "speaking";
    else if (frame instanceof BotStoppedSpeakingFrame && this.#phase === "speaking") this.#phase = "done";
    else return;
    this.conditionChanged();
  }
}

/**
 * Mutes the user while function calls run: from `FunctionCallsStartedFrame` until each of its
 * calls has settled (`FunctionCallResultFrame` or `FunctionCallCancelFrame`, which come
 * upstream). Bounded by `maxMuteMs` (default 60000) for a call that never settles.
 */
export class FunctionCallMuteStrategy extends BoundedMuteStrategy {
  readonly #calls = new PendingFunctionCalls();
  constructor(options: BoundedMuteOptions = {}) {
    super(options, 60_000);
  }
  protected get condition(): boolean {
    return this.#calls.running;
  }
  protected giveUp(): void {
    this.#calls.clear();
  }
  observe(frame: Frame): void {
    if (this.#calls.observe(frame)) this.conditionChanged();
  }
}
