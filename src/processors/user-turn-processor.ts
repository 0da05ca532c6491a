import { InvalidOptionError, describe } from "../errors.js";
import { InputAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection } from "../frames/frame.js";
import { InterruptionFrame, InterruptionTaskFrame } from "../frames/lifecycle.js";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  UserSpeakingFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../frames/speaking.js";
import { InterimTranscriptionFrame, TranscriptionFrame } from "../frames/text.js";
import { TranscriptionSettledFrame } from "../frames/transcribing.js";
import type { TimerHandle } from "../clock/clock.js";
import { STTEndOfTurnFrame } from "../frames/turn.js";
import { UserMuteStartedFrame, UserMuteStoppedFrame } from "../frames/user-mute.js";
import { IdleMonitor } from "../pipeline/task-monitors.js";
import { RepeatReporter } from "../reporting/repeat-reporter.js";
import { UserMuteStrategy } from "../turns/mute-strategies.js";
import { PendingFunctionCalls } from "../turns/pending-function-calls.js";
import { UserTurnStartStrategy, VADStartStrategy } from "../turns/start-strategies.js";
import { UserTurnStopStrategy, VADStopStrategy } from "../turns/stop-strategies.js";
import { type TurnInput, type TurnStrategy, type UserTurnHost, checkMs } from "../turns/turn-strategy.js";
import { UserIdleTimer } from "../turns/user-idle-timer.js";
import { FrameProcessor, type FrameProcessorEvents, type FrameProcessorOptions } from "./frame-processor.js";
import { HeldTranscripts } from "../turns/held-transcripts.js";

/** How long an unsettled function call keeps the idle timer off, ms: past it, its result is taken as lost. */
const LOST_CALL_MS = 5 * 60_000;

/** Options of {@link UserTurnProcessor}. */
export interface UserTurnProcessorOptions extends Omit<FrameProcessorOptions, "direct"> {
  /**
   * Whether the user starting a turn interrupts the bot (barge-in): the processor asks the task
   * for an interruption, which drops the bot's queued audio and text everywhere.
   * @default true
   */
  interruptions?: boolean;
  /** What starts a turn; the first that says so wins. @default [new VADStartStrategy()] */
  startStrategies?: readonly UserTurnStartStrategy[];
  /** What ends a turn; the first that decides wins. @default [new VADStopStrategy()] */
  stopStrategies?: readonly UserTurnStopStrategy[];
  /** When the user is ignored; muted while any says so. @default [] */
  muteStrategies?: readonly UserMuteStrategy[];
  /**
   * After the bot stops speaking, this long without a user turn emits `userIdle` (ms,
   * 100 … 3600000); `null` turns it off. @default null
   */
  userIdleTimeoutMs?: number | null;
  /**
   * The watchdog: a turn with no sign of the user (VAD frame, `UserSpeakingFrame`, transcript)
   * for this long ends, said once (ms, 100 … 120000; longer than every stop strategy's wait).
   * @default 5000
   */
  userTurnStopTimeoutMs?: number;
}

/** A user turn started or stopped. */
export interface UserTurnEvent {
  /** The strategy that decided (`"watchdog"` or `"end of stream"` for the processor's own). */
  readonly strategy: string;
  readonly reason: string;
  /** 1 for the first turn of the session. */
  readonly turn: number;
}

/** The user said nothing for `userIdleTimeoutMs` after the bot spoke. */
export interface UserIdleEvent {
  /** Idles in a row: 1 the first time, 2 if the user stayed silent after the bot's prompt, … */
  readonly count: number;
  /** The timeout that passed, in ms. */
  readonly idleMs: number;
  /** Pushes a frame downstream from the processor (e.g. `new TTSSpeakFrame("Are you there?")`). */
  push(frame: Frame): void;
}

/** Events of {@link UserTurnProcessor}. */
export interface UserTurnProcessorEvents extends FrameProcessorEvents {
  userTurnStarted: (event: UserTurnEvent) => void;
  userTurnStopped: (event: UserTurnEvent) => void;
  userIdle: (event: UserIdleEvent) => void;
}

/** Counters of a {@link UserTurnProcessor}. */
export interface UserTurnStats {
  /** Transcripts dropped because the user was muted. */
  droppedTranscripts: number;
  /** Turns ended by the watchdog. */
  watchdogStops: number;
  /** Mutes started. */
  mutes: number;
}

/**
 * Decides the user's turns (docs/design/turns.md). Put it after the STT service (which is after
 * the `VADProcessor`): it sees the VAD frames, the transcripts and the audio coming down, and the
 * bot's speaking and function-call frames coming up.
 *
 * - **Start strategies** ({@link UserTurnStartStrategy}) decide when a turn starts, **stop
 *   strategies** ({@link UserTurnStopStrategy}) when it ends. The defaults are the VAD's start and
 *   stop. A turn start broadcasts `UserStartedSpeakingFrame` both ways and (with `interruptions`)
 *   asks the task to interrupt; a turn end broadcasts `UserStoppedSpeakingFrame`.
 * - **Mute strategies** ({@link UserMuteStrategy}): while muted, no turn starts, nothing is
 *   interrupted and transcripts are dropped; `UserMuteStartedFrame` / `UserMuteStoppedFrame` are
 *   broadcast when that changes.
 * - **User idle** (`userIdleTimeoutMs`): armed when the bot stops speaking (or its function calls
 *   settle), suppressed by a user turn, the bot speaking and function calls; emits `userIdle`.
 * - **Watchdog** (`userTurnStopTimeoutMs`): a turn with no sign of the user for that long ends.
 *
 * Guarantees: starts and stops alternate, whatever the order of the frames; every frame but a
 * transcript dropped while muted is forwarded; transcripts that arrive while the interruption a
 * turn start asked for is on its way are held (at most 1 s) and forwarded after it, so the
 * interruption cannot drop the user's own words; every timer is on the task clock and none
 * outlives the processor; memory does not grow with the session.
 *
 * @example
 * new UserTurnProcessor({
 *   startStrategies: [new VADStartStrategy(), new TranscriptionStartStrategy()],
 *   stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 })],
 *   muteStrategies: [new FunctionCallMuteStrategy()],
 *   userIdleTimeoutMs: 10_000,
 * });
 */
export class UserTurnProcessor extends FrameProcessor<UserTurnProcessorEvents> {
  /** Whether a user turn starting interrupts the bot. */
  readonly interruptions: boolean;
  readonly startStrategies: readonly UserTurnStartStrategy[];
  readonly stopStrategies: readonly UserTurnStopStrategy[];
  readonly muteStrategies: readonly UserMuteStrategy[];
  readonly userIdleTimeoutMs: number | null;
  readonly userTurnStopTimeoutMs: number;
  /** User turns started so far. */
  turns = 0;
  readonly stats: UserTurnStats = { droppedTranscripts: 0, watchdogStops: 0, mutes: 0 };

  #inTurn = false;
  #vadSpeaking = false;
  #botSpeaking = false;
  #muted = false;
  /** The idle wait was due while the user spoke: it starts when the VAD stops hearing them. */
  #idleAfterSpeech = false;
  readonly #calls = new PendingFunctionCalls();
  /** Fires when the oldest unsettled call is taken as lost ({@link LOST_CALL_MS}). */
  #lostCallTimer: TimerHandle | undefined;
  readonly #audioStops: readonly UserTurnStopStrategy[];
  readonly #host: UserTurnHost;
  readonly #repeats: RepeatReporter;
  #held: HeldTranscripts | undefined;
  #watchdog: IdleMonitor | undefined;
  #idle: UserIdleTimer | undefined;

  constructor(options: UserTurnProcessorOptions = {}) {
    super({ ...options, direct: false });
    this.interruptions = options.interruptions ?? true;
    this.startStrategies = strategies(
      this.name,
      "startStrategies",
      options.startStrategies,
      UserTurnStartStrategy,
      [new VADStartStrategy()],
    );
    this.stopStrategies = strategies(
      this.name,
      "stopStrategies",
      options.stopStrategies,
      UserTurnStopStrategy,
      [new VADStopStrategy()],
    );
    this.muteStrategies = strategies(
      this.name,
      "muteStrategies",
      options.muteStrategies,
      UserMuteStrategy,
      [],
    );
    this.userTurnStopTimeoutMs = checkMs(
      this.name,
      "userTurnStopTimeoutMs",
      options.userTurnStopTimeoutMs ?? 5000,
      100,
      120_000,
    );
    for (const s of this.stopStrategies) {
      if (typeof s.maxWaitMs !== "number" || !(s.maxWaitMs >= 0) || s.maxWaitMs === Infinity) {
        throw new InvalidOptionError(
          `${this.name}: ${s.name}.maxWaitMs must be a finite number of ms ≥ 0 (got ${describe(s.maxWaitMs)}): ` +
            "the longest the strategy waits before it decides a stop",
        );
      }
      if (s.maxWaitMs >= this.userTurnStopTimeoutMs) {
        throw new InvalidOptionError(
          `${this.name}: userTurnStopTimeoutMs (${this.userTurnStopTimeoutMs} ms) must be longer than the longest wait ` +
            `of ${s.name} (${s.maxWaitMs} ms), or the watchdog ends turns the strategy is still deciding; raise it`,
        );
      }
    }
    const idle = options.userIdleTimeoutMs ?? null;
    this.userIdleTimeoutMs =
      idle === null ? null : checkMs(this.name, "userIdleTimeoutMs", idle, 100, 3_600_000);
    this.#audioStops = this.stopStrategies.filter((s) => s.wantsAudio);
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.context ? this.clock.now() : 0),
    });
    this.#host = this.#makeHost();
    for (const s of this.#allStrategies()) s.attach(this.#host);
  }

  /** Whether a user turn is in progress. */
  get inTurn(): boolean {
    return this.#inTurn;
  }

  /** Whether the user is muted now. */
  get muted(): boolean {
    return this.#muted;
  }

  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    if (frame instanceof InputAudioRawFrame) {
      await this.pushFrame(frame, direction);
      if (direction === FrameDirection.DOWNSTREAM) await this.#feedAudio(frame);
      return;
    }
    this.#observe(frame);
    if (direction === FrameDirection.DOWNSTREAM) {
      if (frame instanceof TranscriptionFrame || frame instanceof InterimTranscriptionFrame) {
        return this.#onTranscript(frame, frame instanceof TranscriptionFrame);
      }
      // "That transcription is done" must not overtake its transcript, held for the interruption.
      if (frame instanceof TranscriptionSettledFrame && this.#held?.holding) return this.#held.hold(frame);
      const input = inputOf(frame);
      if (input !== undefined || frame instanceof UserSpeakingFrame) {
        await this.pushFrame(frame, direction);
        this.#watchdog?.activity();
        if (input !== undefined) this.#input(input);
        return;
      }
    }
    await super.processFrame(frame, direction, signal);
    // The interruption this processor asked for has passed: the words held back can follow it.
    if (frame instanceof InterruptionFrame) this.#held?.release();
  }

  protected override async start(): Promise<void> {
    this.#held = new HeldTranscripts(this.clock, (frame) => this.pushFrame(frame));
    this.#watchdog = new IdleMonitor(this.clock, this.userTurnStopTimeoutMs, (idleFor) => {
      this.stats.watchdogStops++;
      this.#repeats.reportOnce(
        "watchdog",
        () =>
          `${this.name}: a user turn had no stop and no sign of the user for ${Math.round(idleFor)} ms ` +
          `(userTurnStopTimeoutMs ${this.userTurnStopTimeoutMs}); it was ended. Check the VAD and STT frames reach this processor`,
        "warn",
      );
      // The VAD's stop was lost (no UserSpeakingFrame either): it does not hear the user now.
      this.#vadSpeaking = false;
      this.#endTurn("watchdog", "no stop and no sign of the user within userTurnStopTimeoutMs");
      return "stop";
    });
    if (this.userIdleTimeoutMs !== null) {
      const idleMs = this.userIdleTimeoutMs;
      this.#idle = new UserIdleTimer(this.clock, idleMs, (count) =>
        this.emit("userIdle", { count, idleMs, push: (f) => void this.pushFrame(f) }),
      );
    }
    for (const s of this.#allStrategies()) {
      try {
        await s.start(this.lifeSignal);
      } catch (error) {
        this.#repeats.reportOnce(
          `start:${s.name}`,
          () => `${this.name}: ${s.name} failed to start: ${describe(error)}`,
        );
      }
    }
    this.#refreshMute();
  }

  /** The stream ends: a turn in progress ends first, so its stop goes out before the EndFrame. */
  protected override async end(): Promise<void> {
    this.#endTurn("end of stream", "the stream ended during the user's turn");
    await this.#stopAll();
  }

  protected override cancel(): Promise<void> {
    return this.#stopAll();
  }

  protected override cleanup(): Promise<void> {
    return this.#stopAll();
  }

  // ---------------------------------------------------------------- decisions

  #onTranscript(frame: TranscriptionFrame | InterimTranscriptionFrame, final: boolean): void | Promise<void> {
    if (this.#muted) {
      this.stats.droppedTranscripts++;
      return;
    }
    this.#watchdog?.activity();
    this.#input({ kind: "transcript", text: frame.text, final });
    if (this.#held?.holding) return this.#held.hold(frame);
    return this.pushFrame(frame, FrameDirection.DOWNSTREAM);
  }

  /** Start strategies first (no turn, not muted), then every stop strategy. */
  #input(input: TurnInput): void {
    if (input.kind === "vad-started") {
      this.#vadSpeaking = true;
      // Speaking, even muted or before a turn starts, is not idle: the wait starts again after it.
      if (this.#idle?.armed) {
        this.#idle.disarm();
        this.#idleAfterSpeech = true;
      }
    } else if (input.kind === "vad-stopped") {
      this.#vadSpeaking = false;
      if (this.#idleAfterSpeech) this.#maybeArmIdle();
    }
    if (!this.#inTurn && !this.#muted) {
      for (const s of this.startStrategies) {
        if (this.#ask(s, () => s.shouldStart(input)) === true) {
          this.#startTurn(s.name, `${input.kind}`);
          break;
        }
      }
    }
    for (const s of this.stopStrategies) this.#ask(s, () => s.onInput(input));
  }

  #startTurn(strategy: string, reason: string): void {
    if (this.#inTurn || this.#muted) return;
    this.#inTurn = true;
    this.turns++;
    for (const s of this.startStrategies) this.#ask(s, () => s.reset());
    this.#idle?.userActive();
    this.#idleAfterSpeech = false;
    this.#watchdog?.start();
    this.logger.debug(`${this.name}: user turn ${this.turns} started (${strategy}: ${reason})`, {
      processor: this.name,
    });
    this.emit("userTurnStarted", { strategy, reason, turn: this.turns });
    void this.broadcastFrame(() => new UserStartedSpeakingFrame());
    // The task pushes the interruption from the head of the pipeline, so it passes every
    // processor (the transport's input included) in order.
    if (this.interruptions) {
      this.#held?.holdUntilReleased();
      void this.pushFrame(new InterruptionTaskFrame(), FrameDirection.UPSTREAM);
    }
    // Told last: a stop strategy that ends the turn at once (from onTurnStarted) then ends a turn
    // already announced, so the stop follows the start, in events and frames alike.
    for (const s of this.stopStrategies) {
      if (!this.#inTurn) break;
      this.#ask(s, () => s.onTurnStarted());
    }
  }

  #endTurn(strategy: string, reason: string): void {
    if (!this.#inTurn) return;
    this.#inTurn = false;
    this.#watchdog?.stop();
    for (const s of this.stopStrategies) this.#ask(s, () => s.onTurnEnded());
    for (const s of this.startStrategies) this.#ask(s, () => s.reset());
    this.logger.debug(`${this.name}: user turn ${this.turns} stopped (${strategy}: ${reason})`, {
      processor: this.name,
    });
    this.emit("userTurnStopped", { strategy, reason, turn: this.turns });
    void this.broadcastFrame(() => new UserStoppedSpeakingFrame());
  }

  /** Bot speaking, function calls and mute strategies, from any frame but audio. */
  #observe(frame: Frame): void {
    if (frame instanceof BotStartedSpeakingFrame) {
      this.#botSpeaking = true;
      this.#idle?.disarm();
      this.#idleAfterSpeech = false;
    } else if (frame instanceof BotStoppedSpeakingFrame) {
      this.#botSpeaking = false;
      this.#maybeArmIdle();
    } else if (this.#calls.observe(frame, this.clock.now())) {
      if (this.#calls.running) {
        this.#idle?.disarm();
        this.#idleAfterSpeech = false;
        this.#watchLostCalls();
      } else this.#maybeArmIdle();
    }
    if (this.muteStrategies.length === 0) return;
    for (const s of this.muteStrategies) this.#ask(s, () => s.observe(frame));
    this.#refreshMute();
  }

  #maybeArmIdle(): void {
    this.#expireLostCalls();
    if (this.#inTurn || this.#botSpeaking || this.#calls.running) return;
    // The user is speaking (muted, or not yet a turn): armed once the VAD stops hearing them.
    this.#idleAfterSpeech = this.#vadSpeaking;
    if (!this.#vadSpeaking) this.#idle?.arm();
  }

  /**
   * A call whose result and cancel were both lost would hold the idle timer off for the rest of
   * the session: past {@link LOST_CALL_MS} it no longer does (said once).
   */
  #expireLostCalls(): void {
    const lost = this.#calls.expire(this.clock.now(), LOST_CALL_MS);
    this.#watchLostCalls();
    if (lost === 0) return;
    this.#repeats.reportOnce(
      "lost-function-call",
      () =>
        `${this.name}: ${lost} function call(s) had no result and no cancel for ${LOST_CALL_MS / 60_000} minutes; ` +
        "they no longer keep userIdle off. Check that every FunctionCallsStartedFrame is answered or cancelled",
      "warn",
    );
  }

  /**
   * One timer while calls run (only with `userIdleTimeoutMs`): due when the oldest is taken as
   * lost, so a lost call stops holding the idle wait off even if nothing else happens.
   */
  #watchLostCalls(): void {
    this.#lostCallTimer?.cancel();
    this.#lostCallTimer = undefined;
    const oldest = this.#calls.oldestStartMs;
    if (this.#idle === undefined || oldest === undefined) return;
    this.#lostCallTimer = this.clock.setTimer(
      () => {
        this.#lostCallTimer = undefined;
        this.#maybeArmIdle();
      },
      Math.max(0, oldest + LOST_CALL_MS - this.clock.now()) + 1,
    );
  }

  #refreshMute(): void {
    const muted = this.muteStrategies.some((s) => this.#ask(s, () => s.muted) === true);
    if (muted === this.#muted) return;
    this.#muted = muted;
    if (muted) this.stats.mutes++;
    this.logger.debug(`${this.name}: user ${muted ? "muted" : "heard again"}`, { processor: this.name });
    void this.broadcastFrame(() => (muted ? new UserMuteStartedFrame() : new UserMuteStoppedFrame()));
  }

  async #feedAudio(frame: InputAudioRawFrame): Promise<void> {
    for (const s of this.#audioStops) {
      try {
        await s.onAudio(frame);
      } catch (error) {
        this.#reportStrategyError(s, error);
      }
    }
  }

  /** Runs a strategy's verb; what it throws is said once per strategy, never stops the processor. */
  #ask<T>(strategy: TurnStrategy, verb: () => T): T | undefined {
    try {
      return verb();
    } catch (error) {
      this.#reportStrategyError(strategy, error);
      return undefined;
    }
  }

  #reportStrategyError(strategy: TurnStrategy, error: unknown): void {
    this.#repeats.reportOnce(
      `strategy:${strategy.name}`,
      () => `${this.name}: ${strategy.name} failed: ${describe(error)}`,
    );
  }

  async #stopAll(): Promise<void> {
    this.#watchdog?.stop();
    this.#idle?.disarm();
    this.#idleAfterSpeech = false;
    this.#lostCallTimer?.cancel();
    this.#lostCallTimer = undefined;
    this.#held?.stop();
    for (const s of this.#allStrategies()) {
      try {
        await s.stop();
      } catch (error) {
        this.#reportStrategyError(s, error);
      }
    }
    this.#repeats.flush();
  }

  #allStrategies(): TurnStrategy[] {
    return [...this.startStrategies, ...this.stopStrategies, ...this.muteStrategies];
  }

  #makeHost(): UserTurnHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the host is a view of this processor
    const self = this;
    return {
      get clock() {
        return self.clock;
      },
      get logger() {
        return self.logger;
      },
      name: this.name,
      get inTurn() {
        return self.#inTurn;
      },
      get vadSpeaking() {
        return self.#vadSpeaking;
      },
      get botSpeaking() {
        return self.#botSpeaking;
      },
      endTurn: (strategy, reason) => this.#endTurn(strategy, reason),
      refreshMute: () => this.#refreshMute(),
      reportOnce: (cause, message) => this.#repeats.reportOnce(cause, message, "warn"),
    };
  }
}

/** The turn input a downstream frame carries, if any. */
function inputOf(frame: Frame): TurnInput | undefined {
  if (frame instanceof VADUserStartedSpeakingFrame) return { kind: "vad-started" };
  if (frame instanceof VADUserStoppedSpeakingFrame) return { kind: "vad-stopped" };
  if (frame instanceof STTEndOfTurnFrame) return { kind: "stt-end-of-turn", cause: frame.cause };
  return undefined;
}

/** Checks a strategies option: an array of the right kind, each object once. */
function strategies<T>(
  owner: string,
  option: string,
  given: readonly T[] | undefined,
  kind: abstract new (...args: never[]) => T,
  fallback: T[],
): readonly T[] {
  if (given === undefined) return fallback;
  if (!Array.isArray(given))
    throw new InvalidOptionError(`${owner}: ${option} must be an array of ${kind.name}s`);
  if (given.length === 0 && option !== "muteStrategies") {
    throw new InvalidOptionError(
      `${owner}: ${option} is empty, so no turn would ever ${option === "startStrategies" ? "start" : "end"}; ` +
        `leave it out for the VAD's, or give at least one ${kind.name}`,
    );
  }
  given.forEach((s, i) => {
    if (!(s instanceof kind)) {
      throw new InvalidOptionError(
        `${owner}: ${option}[${i}] is not a ${kind.name} (got ${s === null ? "null" : typeof s === "object" ? s.constructor.name : typeof s})`,
      );
    }
    if (given.indexOf(s) !== i) throw new InvalidOptionError(`${owner}: ${option}[${i}] is given twice`);
  });
  return [...given];
}
