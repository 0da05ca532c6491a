import { InvalidOptionError, type LLMContextError, describe } from "../../errors.js";
import type { TimerHandle } from "../../clock/clock.js";
import type { LLMContext } from "../../context/llm-context.js";
import { type Frame, FrameDirection } from "../../frames/frame.js";
import {
  LLMContextFrame,
  LLMMessagesAppendFrame,
  LLMMessagesUpdateFrame,
  LLMPreemptiveContextFrame,
  LLMRunFrame,
  LLMSetToolsFrame,
} from "../../frames/llm.js";
import {
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../frames/speaking.js";
import { STTEndOfTurnFrame } from "../../frames/turn.js";
import { InterimTranscriptionFrame, TranscriptionFrame } from "../../frames/text.js";
import { TranscriptionPendingFrame, TranscriptionSettledFrame } from "../../frames/transcribing.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { type ContextChangeFrame, applyContextChange, refusedChange } from "./context-frames.js";
import { FrameProcessor, type FrameProcessorEvents, type FrameProcessorOptions } from "../frame-processor.js";
import { turnStore } from "../turn.js";
import { andThen, checkCount, checkMs } from "./options.js";
import { PendingTranscriptions } from "./pending-transcriptions.js";
import { TurnText } from "./turn-text.js";

/** Options of {@link LLMUserAggregator}. */
export interface LLMUserAggregatorOptions extends Omit<FrameProcessorOptions, "direct" | "maxQueuedFrames"> {
  /**
   * After `UserStoppedSpeakingFrame`, the longest wait for a final transcript still on its way,
   * in ms: when the turn has no words yet, its last transcript was an interim one (the STT is
   * still finishing it), or a segmented STT has said a transcription is pending
   * (`TranscriptionPendingFrame`). The wait ends the moment the final arrives (for a segmented STT:
   * the moment nothing is pending any more, words or not), so it costs latency only in a turn that
   * gets no final at all (a cough); a final later than this is not lost but answered as a turn of
   * its own (docs/design/conversation.md). 1000 ms covers a streaming STT's answer to `Finalize`
   * (typically 100–400 ms) and a segmented STT transcribing a short utterance over HTTP.
   * @default 1000
   */
  transcriptWaitMs?: number;
  /**
   * Most characters of one turn's text; past it the rest of the turn is dropped (said once, counted
   * in {@link LLMUserAggregator.droppedChars}) and the turn keeps its beginning. About 10 minutes
   * of continuous speech: only a stuck STT or a runaway input reaches it.
   * @default 10000
   */
  maxTurnChars?: number;
  /**
   * Start the LLM's answer before the turn is confirmed (docs/design/llm-services.md, "Preemptive
   * generation"): when the words of the open turn look complete (the STT's own end of turn, a
   * final transcript or a segmented STT's last answer while the VAD hears silence, or the VAD's
   * stop, with nothing still pending), an
   * `LLMPreemptiveContextFrame` goes to the LLM service, which sends the request at once and
   * holds the answer. If the turn then ends with exactly those words and nothing else changed
   * the context, that answer is used, and the time the LLM took is hidden in the turn-detection
   * wait; otherwise it is discarded unheard. Costs a request per discarded answer (at most
   * `maxPerTurn` per turn). `true` is `{ maxPerTurn: 3 }`.
   * @default false
   */
  preemptiveGeneration?: boolean | PreemptiveGenerationOptions;
}

/** Options of {@link LLMUserAggregatorOptions.preemptiveGeneration}. */
export interface PreemptiveGenerationOptions {
  /**
   * Most preemptive requests in one user turn (each new set of words is a new request, and the
   * one before is discarded). A user who keeps talking past them waits for the turn's end.
   * @default 3
   */
  maxPerTurn?: number;
}

/** Events of {@link LLMUserAggregator}. */
export interface LLMUserAggregatorEvents extends FrameProcessorEvents {
  /** A user message with `text` was added to the context and an `LLMContextFrame` pushed. */
  userTurnCommitted: (text: string) => void;
  /** A user turn ended with no words (no final transcript came in time): nothing was added or run. */
  userTurnEmpty: () => void;
}

/** Where the user's turn stands. */
type Phase =
  /** No turn: a final transcript now is a turn of its own. */
  | "idle"
  /** Between `UserStartedSpeakingFrame` and `UserStoppedSpeakingFrame`. */
  | "speaking"
  /** Stopped; waiting (at most `transcriptWaitMs`) for the final transcript still expected. */
  | "awaiting";

/**
 * Turns the user's speech into user messages of the shared {@link LLMContext}
 * (docs/design/conversation.md). Put it after the `UserTurnProcessor` and before the LLM service.
 *
 * - Final `TranscriptionFrame`s of a turn are collected (joined with spaces, none between CJK
 *   text); at `UserStoppedSpeakingFrame` the turn's text becomes ONE user message and an
 *   `LLMContextFrame` goes downstream for the LLM to answer. A turn with no words pushes nothing.
 * - A final that arrives after the stop, within `transcriptWaitMs`, belongs to the turn: when the
 *   turn has no words yet, its last transcript was interim, or a segmented STT has a transcription
 *   pending (`TranscriptionPendingFrame` … `TranscriptionSettledFrame`), the commit waits for it.
 * - A final transcript that arrives with no user turn (an STT without VAD or turn frames, or a
 *   final later than the wait) is a turn of its own, committed at once.
 * - `LLMMessagesAppendFrame`, `LLMMessagesUpdateFrame`, `LLMSetToolsFrame` and `LLMRunFrame` are
 *   applied to the shared context here and consumed; those that ask for a run become an
 *   `LLMContextFrame`. (Without an aggregator the LLM service applies them to its own context.)
 *
 * Transcripts, interim transcripts and every other frame are forwarded unchanged.
 *
 * It runs in direct mode: the bookkeeping is a few synchronous steps, and handling frames in
 * their arrival order means a transcript can never be overtaken by the stop frame inside this
 * processor's own lanes (a system frame would overtake queued data).
 *
 * Guarantees: one message per turn; the turn's text is bounded (`maxTurnChars`); the only timer is
 * the bounded wait after a stop, cleared by the next start, the commit, end, cancel and teardown.
 *
 * @example
 * const context = new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
 * const user = new LLMUserAggregator(context);
 */
export class LLMUserAggregator extends FrameProcessor<LLMUserAggregatorEvents> {
  /** The conversation this aggregator adds to. */
  readonly llmContext: LLMContext;
  /** See {@link LLMUserAggregatorOptions.transcriptWaitMs}. */
  readonly transcriptWaitMs: number;
  /** See {@link LLMUserAggregatorOptions.maxTurnChars}. */
  readonly maxTurnChars: number;
  /** User messages added so far. */
  turnsCommitted = 0;
  /** Characters of transcripts dropped by `maxTurnChars`, over the session. */
  droppedChars = 0;
  /**
   * Stops whose final transcript had not come after `transcriptWaitMs`, over the session: the
   * turn was committed without it (said once, then counted).
   */
  transcriptWaitsExpired = 0;
  /** Most preemptive requests per turn; 0 when preemptive generation is off. */
  readonly preemptiveMaxPerTurn: number;
  /** `LLMPreemptiveContextFrame`s pushed, over the session. */
  preemptiveRequests = 0;

  readonly #text: TurnText;
  #phase: Phase = "idle";
  /** The last transcript of the turn was interim: its final is still to come. */
  #interimPending = false;
  /** Transcriptions a segmented STT announced and has not answered yet. */
  readonly #transcriptions = new PendingTranscriptions();
  #timer: TimerHandle | undefined;
  readonly #repeats: RepeatReporter;
  /** The VAD hears the user now (between its start and stop frames). */
  #vadSpeaking = false;
  /** Preemptive requests made in this turn, and the words of the last one. */
  #preemptedInTurn = 0;
  #preemptedText: string | undefined;

  constructor(context: LLMContext, options: LLMUserAggregatorOptions = {}) {
    super({ ...options, direct: true });
    this.llmContext = context;
    this.transcriptWaitMs = checkMs(this.name, "transcriptWaitMs", options.transcriptWaitMs, 1000);
    this.maxTurnChars = checkCount(this.name, "maxTurnChars", options.maxTurnChars, 10_000);
    this.#text = new TurnText(this.maxTurnChars);
    this.preemptiveMaxPerTurn = preemptiveMaxPerTurn(this.name, options.preemptiveGeneration);
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.state === "created" ? 0 : this.clock.now()),
    });
  }

  /** Whether a user turn is open or waiting for its final transcript. */
  get inTurn(): boolean {
    return this.#phase !== "idle";
  }

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (direction !== FrameDirection.DOWNSTREAM) return super.processFrame(frame, direction);
    if (frame instanceof TranscriptionFrame) return this.#onTranscript(frame);
    if (frame instanceof InterimTranscriptionFrame) {
      if (frame.text.trim() !== "") this.#interimPending = true;
      return super.processFrame(frame, direction);
    }
    if (frame instanceof TranscriptionPendingFrame || frame instanceof TranscriptionSettledFrame)
      return this.#onTranscriptionTotals(frame);
    if (frame instanceof UserStartedSpeakingFrame) {
      this.#clearTimer(); // the user resumed: what the turn has so far stays in it
      if (this.#phase === "idle") this.#newTurn();
      this.#phase = "speaking";
      return super.processFrame(frame, direction);
    }
    if (frame instanceof VADUserStartedSpeakingFrame) {
      this.#vadSpeaking = true;
      return super.processFrame(frame, direction);
    }
    if (frame instanceof VADUserStoppedSpeakingFrame) {
      this.#vadSpeaking = false;
      return andThen(super.processFrame(frame, direction), () => this.#preempt());
    }
    if (frame instanceof STTEndOfTurnFrame)
      return andThen(super.processFrame(frame, direction), () => this.#preempt());
    if (frame instanceof UserStoppedSpeakingFrame)
      return andThen(super.processFrame(frame, direction), () => this.#onStop());
    if (
      frame instanceof LLMMessagesAppendFrame ||
      frame instanceof LLMMessagesUpdateFrame ||
      frame instanceof LLMSetToolsFrame
    ) {
      const refused = applyContextChange(this.llmContext, frame);
      if (refused) return this.#refuse(frame, refused);
      return !(frame instanceof LLMSetToolsFrame) && frame.runLlm ? this.#pushContext() : undefined;
    }
    if (frame instanceof LLMRunFrame) return this.#pushContext();
    return super.processFrame(frame, direction);
  }

  /** A message or tool list the context refused: said once per kind of frame (an ErrorFrame), then counted. */
  #refuse(frame: ContextChangeFrame, error: LLMContextError): void {
    const cause = `refused:${frame.constructor.name}`;
    if (this.#repeats.occurred(cause, () => error.message, "warn"))
      void this.pushError(refusedChange(this.name, frame, error));
  }

  protected override end(): void {
    this.#reset();
  }

  protected override cancel(): void {
    this.#reset();
  }

  protected override cleanup(): void {
    this.#reset();
  }

  // ---------------------------------------------------------------- the turn

  #onTranscript(frame: TranscriptionFrame): void | Promise<void> {
    const forwarded = this.pushFrame(frame);
    if (frame.text.trim() === "") return forwarded;
    const dropped = this.#text.append(frame.text, "word");
    if (dropped > 0) this.#onDropped(dropped);
    this.#interimPending = false;
    // Speaking: the stop commits. Awaiting: this was the final the stop waited for, unless a
    // segmented STT still has a transcription pending (its settled frame, just behind this
    // transcript, commits). Idle: a transcript with no turn around it is a turn of its own.
    if (this.#phase === "speaking")
      return this.#vadSpeaking ? forwarded : andThen(forwarded, () => this.#preempt());
    if (this.#phase === "awaiting" && this.#transcriptions.pending) return forwarded;
    return andThen(forwarded, () => this.#commit());
  }

  /**
   * A segmented STT sent audio for transcription, or got its answer. While the stop waits, the
   * answer that leaves nothing pending commits at once: the words (if any) came just before it,
   * and an empty or failed transcription must not cost the whole wait.
   */
  #onTranscriptionTotals(frame: TranscriptionPendingFrame | TranscriptionSettledFrame): void | Promise<void> {
    this.#transcriptions.observe(frame);
    const forwarded = this.pushFrame(frame);
    // In an open turn, the answer that leaves nothing pending makes the words look complete.
    if (this.#phase === "speaking" && !this.#vadSpeaking) return andThen(forwarded, () => this.#preempt());
    if (this.#phase !== "awaiting" || this.#finalExpected()) return forwarded;
    return andThen(forwarded, () => this.#commit());
  }

  /** A final transcript is still on its way: an interim was seen, or a transcription is pending. */
  #finalExpected(): boolean {
    return this.#interimPending || this.#transcriptions.pending;
  }

  #onStop(): void | Promise<void> {
    this.#phase = "awaiting";
    // Words and nothing more coming: commit. No words, but every STT that announces its
    // transcriptions has answered them all: nothing is coming either (a cough), so no wait.
    if (!this.#finalExpected() && (this.#text.hasWords || this.#transcriptions.announced))
      return this.#commit();
    this.#clearTimer();
    this.#timer = this.clock.setTimer(() => {
      this.#timer = undefined;
      if (this.#finalExpected()) this.#onWaitExpired();
      // The commit is new work, not a continuation of whatever turn armed the timer: run it
      // outside that turn, or an interruption meanwhile would have it dropped as stale.
      turnStore.exit(() => this.#detached(this.#commit()));
    }, this.transcriptWaitMs);
  }

  #commit(): void | Promise<void> {
    this.#clearTimer();
    this.#phase = "idle";
    this.#newTurn();
    this.#interimPending = false;
    const text = this.#text.take();
    if (text === "") {
      this.emit("userTurnEmpty");
      return;
    }
    this.llmContext.addMessage({ role: "user", content: text });
    this.turnsCommitted++;
    this.emit("userTurnCommitted", text);
    // The run is new work, whatever async turn the stop or the last words came in: a stop that a
    // strategy's timer decided runs in the turn of the lane that armed it (a transcript's), and
    // an interruption since then must not drop this LLMContextFrame as stale.
    return turnStore.exit(() => this.#pushContext());
  }

  #pushContext(): void | Promise<void> {
    return this.pushFrame(new LLMContextFrame(this.llmContext));
  }

  // ---------------------------------------------------------------- preemptive generation

  /**
   * The open turn's words look complete: the LLM may start on them now (the option is on, the turn
   * is open, it has words, no final is still expected, these words were not asked about already,
   * and the turn has requests left). The message is the one {@link #commit} would add.
   */
  #preempt(): void | Promise<void> {
    if (this.preemptiveMaxPerTurn === 0 || this.#phase !== "speaking" || this.#finalExpected()) return;
    const text = this.#text.text.trim();
    if (text === "" || text === this.#preemptedText) return;
    if (this.#preemptedInTurn >= this.preemptiveMaxPerTurn) return;
    this.#preemptedInTurn++;
    this.#preemptedText = text;
    this.preemptiveRequests++;
    return this.pushFrame(new LLMPreemptiveContextFrame(this.llmContext, { role: "user", content: text }));
  }

  #newTurn(): void {
    this.#preemptedInTurn = 0;
    this.#preemptedText = undefined;
  }

  #onDropped(dropped: number): void {
    this.droppedChars += dropped;
    this.#repeats.reportOnce(
      "maxTurnChars",
      () =>
        `${this.name}: a user turn passed maxTurnChars (${this.maxTurnChars} characters); the rest of the turn was dropped ` +
        "(counted in droppedChars). Raise maxTurnChars if turns this long are expected",
      "warn",
    );
  }

  /**
   * The stop waited `transcriptWaitMs` for a final that did not come. Said once: a slow STT, or a
   * segmented one whose settled count lags its requests, costs every turn the whole wait.
   */
  #onWaitExpired(): void {
    this.transcriptWaitsExpired++;
    this.#repeats.reportOnce(
      "transcriptWaitMs",
      () =>
        `${this.name}: the final transcript of a turn had not come ${this.transcriptWaitMs} ms after the user stopped ` +
        `(transcriptWaitMs); the turn was committed without it, and words that come later make a turn of their own ` +
        `(counted in transcriptWaitsExpired). A slow STT: raise transcriptWaitMs. A segmented STT of your own: push a ` +
        `TranscriptionSettledFrame for every TranscriptionPendingFrame (STTService does), or every turn waits this long`,
      "warn",
    );
  }

  #detached(result: void | Promise<void>): void {
    if (result) result.catch((error: unknown) => void this.pushError(error as Error));
  }

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** The session is over: the open turn is dropped (nothing would answer it) and the timer goes. */
  #reset(): void {
    this.#clearTimer();
    this.#text.take();
    this.#phase = "idle";
    this.#interimPending = false;
    this.#vadSpeaking = false;
    this.#newTurn();
    this.#transcriptions.clear();
    this.#repeats.flush();
  }
}

/** `preemptiveGeneration` as the most requests per turn (0: off); anything but a boolean or an options object is refused. */
function preemptiveMaxPerTurn(owner: string, value: unknown): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return checkCount(owner, "preemptiveGeneration.maxPerTurn", undefined, 3);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new InvalidOptionError(
      `${owner}: preemptiveGeneration must be true, false or { maxPerTurn } (got ${describe(value)})`,
    );
  const { maxPerTurn } = value as PreemptiveGenerationOptions;
  return checkCount(owner, "preemptiveGeneration.maxPerTurn", maxPerTurn, 3);
}
