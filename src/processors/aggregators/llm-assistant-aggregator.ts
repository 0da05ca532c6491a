import type { TimerHandle } from "../../clock/clock.js";
import type { LLMContext, ToolResultOutcome } from "../../context/llm-context.js";
import type { LLMMessage } from "../../context/messages.js";
import { describe } from "../../errors.js";
import { type Frame, FrameDirection } from "../../frames/frame.js";
import {
  FunctionCallCancelFrame,
  type FunctionCallInfo,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
} from "../../frames/function-calls.js";
import { InterruptionFrame } from "../../frames/lifecycle.js";
import { LLMContextFrame, LLMFullResponseEndFrame, LLMFullResponseStartFrame } from "../../frames/llm.js";
import { UserStartedSpeakingFrame, UserStoppedSpeakingFrame } from "../../frames/speaking.js";
import { LLMTextFrame, TTSTextFrame } from "../../frames/text.js";
import { TTSStartedFrame, TTSStoppedFrame } from "../../frames/tts.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { FrameProcessor, type FrameProcessorEvents, type FrameProcessorOptions } from "../frame-processor.js";
import { turnStore } from "../turn.js";
import { FunctionCallGroups } from "./function-call-groups.js";
import { checkCount, checkMs } from "./options.js";
import { TurnText } from "./turn-text.js";

/** Options of {@link LLMAssistantAggregator}. */
export interface LLMAssistantAggregatorOptions extends Omit<
  FrameProcessorOptions,
  "direct" | "maxQueuedFrames"
> {
  /**
   * Most characters of one answer's text; past it the rest of the answer is dropped (said once,
   * counted in {@link LLMAssistantAggregator.droppedChars}). Above any answer a voice bot's
   * `max_tokens` allows.
   * @default 100000
   */
  maxResponseChars?: number;
  /**
   * When a group of function calls settles while the user is speaking, the answer waits for the
   * user's turn: the user's own message runs the LLM, with the results in the context. If that
   * turn adds no user message (a cough), the aggregator asks for the answer itself this long after
   * `UserStoppedSpeakingFrame`, in ms. Keep it above the user aggregator's `transcriptWaitMs`
   * (`LLMContextAggregatorPair` does).
   * @default 1200
   */
  userTurnWaitMs?: number;
  /**
   * Most function calls waiting for their result or cancel that are tracked; past it the oldest
   * group is forgotten (said once): a runner that loses calls cannot grow memory.
   * @default 256
   */
  maxOpenFunctionCalls?: number;
  /**
   * Most answers asked for in a row to function-call results with no new user message between
   * (tool rounds). A model that calls a tool in every answer (a `toolChoice` of `"required"` or a
   * named function does, by construction) would otherwise be asked again without end, the context
   * growing each round. Past it the results are still recorded but not answered (said once,
   * counted in {@link LLMAssistantAggregator.toolRoundsRefused}); the user's next turn carries them.
   * @default 5
   */
  maxToolRounds?: number;
}

/** Events of {@link LLMAssistantAggregator}. */
export interface LLMAssistantAggregatorEvents extends FrameProcessorEvents {
  /** An assistant message was added: `text` as played; `interrupted` when the user barged in. */
  assistantTurnCommitted: (text: string, interrupted: boolean) => void;
  /** A function call's result was refused by the context (late result of a cancelled call, duplicate, unknown call). */
  functionCallResultRejected: (call: FunctionCallInfo, reason: "unknown" | "cancelled" | "completed") => void;
  /** An `LLMContextFrame` was pushed upstream for the LLM to answer function-call results. */
  llmRunRequested: () => void;
}

/** What opened the answer being collected (what closes it depends on it). */
type Opened =
  /** `LLMFullResponseStartFrame`: closed by `LLMFullResponseEndFrame`. */
  | "llm"
  /** `TTSStartedFrame` outside a response (a `TTSSpeakFrame`): closed by `TTSStoppedFrame`. */
  | "tts"
  /** Text outside any of those: closed by the next boundary of either kind. */
  | "loose";

/**
 * Records what the bot actually said, and the function-call lifecycle, in the shared
 * {@link LLMContext} (docs/design/conversation.md). Put it after the output transport: the
 * transport releases each non-audio frame once the audio before it has been played (or, with a
 * `pts`, at that time), so the text that reaches this processor was heard.
 *
 * - Text of an answer is collected between `LLMFullResponseStartFrame` and
 *   `LLMFullResponseEndFrame` (or `TTSStartedFrame` / `TTSStoppedFrame` for a `TTSSpeakFrame`)
 *   and committed with `context.addAssistantText` at the end. `TTSTextFrame`s are words or
 *   sentences (joined with a space where one is missing, none between CJK text); `LLMTextFrame`s
 *   that get here (no TTS in the pipeline: a text bot) carry their own spacing and are taken as
 *   they are.
 * - On `InterruptionFrame` only what was played is committed, marked `interrupted: true`.
 * - `FunctionCallResultFrame` → `context.recordToolResult` (a late result of a cancelled call is
 *   refused and said once); `FunctionCallCancelFrame` → `context.cancelToolCall`. Once every call
 *   of a `FunctionCallsStartedFrame` is settled and a result had `runLlm`, an `LLMContextFrame`
 *   goes UPSTREAM for the LLM to answer: at once, or after the answer being played ends, or, while
 *   the user speaks, through the user's own turn (see `userTurnWaitMs`).
 *
 * Every frame is forwarded. Direct mode: frames are handled in the order the transport releases
 * them, so a word played just before a barge-in can never be dropped from a lane by the
 * interruption that follows it.
 *
 * Guarantees: the text held is bounded (`maxResponseChars`), so are the tracked calls
 * (`maxOpenFunctionCalls`); the one timer (the wait after the user's turn) is cleared by the next
 * start, end, cancel and teardown.
 */
export class LLMAssistantAggregator extends FrameProcessor<LLMAssistantAggregatorEvents> {
  /** The conversation this aggregator records into. */
  readonly llmContext: LLMContext;
  /** See {@link LLMAssistantAggregatorOptions.maxResponseChars}. */
  readonly maxResponseChars: number;
  /** See {@link LLMAssistantAggregatorOptions.userTurnWaitMs}. */
  readonly userTurnWaitMs: number;
  /** Assistant messages added so far. */
  responsesCommitted = 0;
  /** `LLMContextFrame`s pushed upstream so far. */
  runsRequested = 0;
  /** Function-call results the context refused. */
  resultsRejected = 0;
  /** Characters dropped by `maxResponseChars`, over the session. */
  droppedChars = 0;
  /** See {@link LLMAssistantAggregatorOptions.maxToolRounds}. */
  readonly maxToolRounds: number;
  /** Answers not asked for because `maxToolRounds` rounds had run since the last user message. */
  toolRoundsRefused = 0;

  readonly #text: TurnText;
  readonly #groups: FunctionCallGroups;
  readonly #repeats: RepeatReporter;
  #opened: Opened | undefined;
  #userSpeaking = false;
  /** A run is due once the answer being played has ended. */
  #runAfterResponse = false;
  /** A run is due unless the user's turn adds a message: the last user message when it became due. */
  #owed: { lastUser: LLMMessage | undefined } | undefined;
  #owedTimer: TimerHandle | undefined;
  #ending = false;
  /** Tool rounds asked for since {@link #roundsAfter}, the last user message when they began. */
  #rounds = 0;
  #roundsAfter: LLMMessage | undefined;

  constructor(context: LLMContext, options: LLMAssistantAggregatorOptions = {}) {
    super({ ...options, direct: true });
    this.llmContext = context;
    this.maxResponseChars = checkCount(this.name, "maxResponseChars", options.maxResponseChars, 100_000);
    this.userTurnWaitMs = checkMs(this.name, "userTurnWaitMs", options.userTurnWaitMs, 1200);
    const maxCalls = checkCount(this.name, "maxOpenFunctionCalls", options.maxOpenFunctionCalls, 256);
    this.maxToolRounds = checkCount(this.name, "maxToolRounds", options.maxToolRounds, 5);
    this.#text = new TurnText(this.maxResponseChars);
    this.#groups = new FunctionCallGroups(maxCalls);
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.state === "created" ? 0 : this.clock.now()),
    });
  }

  /** Function calls waiting for their result or cancel. */
  get openFunctionCalls(): number {
    return this.#groups.openCalls;
  }

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (direction === FrameDirection.DOWNSTREAM) this.#observe(frame);
    return super.processFrame(frame, direction);
  }

  protected override end(): void {
    this.#ending = true; // the session is over: nothing more is asked of the LLM
    this.#close(false); // end drains: everything queued before the EndFrame was played
    this.#reset();
  }

  protected override cancel(): void {
    this.#ending = true;
    this.#close(true); // cancel stops playback: the answer was cut off
    this.#reset();
  }

  protected override cleanup(): void {
    this.#ending = true;
    this.#reset();
  }

  // ---------------------------------------------------------------- frames

  #observe(frame: Frame): void {
    if (frame instanceof TTSTextFrame) return this.#add(frame.text, "word");
    if (frame instanceof LLMTextFrame) return this.#add(frame.text, "verbatim");
    if (frame instanceof LLMFullResponseStartFrame) {
      this.#close(false); // an answer left open (no end seen) is closed as it stands
      this.#opened = "llm";
      return;
    }
    if (frame instanceof LLMFullResponseEndFrame) return this.#close(false);
    if (frame instanceof TTSStartedFrame) {
      if (this.#opened === "loose") this.#close(false);
      this.#opened ??= "tts";
      return;
    }
    if (frame instanceof TTSStoppedFrame) {
      if (this.#opened === "tts" || this.#opened === "loose") this.#close(false);
      return;
    }
    if (frame instanceof InterruptionFrame) return this.#close(true);
    if (frame instanceof UserStartedSpeakingFrame) {
      this.#userSpeaking = true;
      this.#clearOwedTimer();
      return;
    }
    if (frame instanceof UserStoppedSpeakingFrame) {
      this.#userSpeaking = false;
      if (this.#owed) this.#armOwedTimer();
      return;
    }
    if (frame instanceof FunctionCallsStartedFrame) {
      if (this.#groups.start(frame.calls) > 0) {
        this.#repeats.reportOnce(
          "maxOpenFunctionCalls",
          () =>
            `${this.name}: more than ${this.#groups.maxCalls} function calls (maxOpenFunctionCalls) were waiting for a result or a cancel; ` +
            "the oldest group was forgotten (its results are still recorded, but will not make the LLM answer). " +
            "Does the function-call runner settle every call?",
          "warn",
        );
      }
      return;
    }
    if (frame instanceof FunctionCallResultFrame) return this.#onResult(frame);
    if (frame instanceof FunctionCallCancelFrame) {
      const id = frame.call.toolCallId;
      this.llmContext.cancelToolCall(id);
      return this.#settle(id, false);
    }
  }

  // ---------------------------------------------------------------- the answer's text

  #add(text: string, mode: "word" | "verbatim"): void {
    if (text === "") return;
    this.#opened ??= "loose";
    const dropped = this.#text.append(text, mode);
    if (dropped === 0) return;
    this.droppedChars += dropped;
    this.#repeats.reportOnce(
      "maxResponseChars",
      () =>
        `${this.name}: an answer passed maxResponseChars (${this.maxResponseChars} characters); the rest was not recorded in the context ` +
        "(counted in droppedChars)",
      "warn",
    );
  }

  /** Commits the answer being collected, if any (`interrupted`: only its played part was heard). */
  #close(interrupted: boolean): void {
    const opened = this.#opened;
    this.#opened = undefined;
    const text = this.#text.take();
    if (opened !== undefined && text !== "") {
      // An interrupted answer of which nothing was played is not recorded (addAssistantText).
      const added = this.llmContext.addAssistantText(text, { interrupted });
      if (added) {
        this.responsesCommitted++;
        this.emit("assistantTurnCommitted", text, interrupted);
      }
    }
    if (this.#runAfterResponse) {
      this.#runAfterResponse = false;
      this.#requestRun();
    }
  }

  // ---------------------------------------------------------------- function calls

  #onResult(frame: FunctionCallResultFrame): void {
    const call = frame.call;
    const outcome = this.#record(call, frame);
    if (!outcome.accepted) {
      this.resultsRejected++;
      this.#repeats.reportOnce(
        `result:${outcome.reason}`,
        () => `${this.name}: ${rejection(call, outcome.reason)} (later ones are counted, not logged)`,
        "warn",
      );
      this.emit("functionCallResultRejected", call, outcome.reason);
    }
    this.#settle(call.toolCallId, outcome.accepted && frame.runLlm);
  }

  #record(call: FunctionCallInfo, frame: FunctionCallResultFrame): ToolResultOutcome {
    try {
      return this.llmContext.recordToolResult(call.toolCallId, frame.result);
    } catch (error) {
      // Not JSON data: the call still gets a result, one the model can explain to the user.
      this.#repeats.reportOnce(
        `result:invalid`,
        () =>
          `${this.name}: the result of the ${call.functionName} call is not recorded as it is: ${describe(error)}`,
        "warn",
      );
      return this.llmContext.recordToolResult(
        call.toolCallId,
        `The ${call.functionName} function failed: it returned a result that could not be read.`,
      );
    }
  }

  #settle(id: string, runLlm: boolean): void {
    const settled = this.#groups.settle(id, runLlm);
    if (!settled.done || !settled.runLlm || !this.#roundAllowed()) return;
    // The run is new work, not the continuation of the turn the result came in: a result kept
    // through an interruption arrives in the interrupted turn's context, where a push is stale.
    turnStore.exit(() => this.#requestRun());
  }

  /** One more tool round since the last user message, if `maxToolRounds` allows it. */
  #roundAllowed(): boolean {
    const lastUser = lastUserMessage(this.llmContext);
    if (lastUser !== this.#roundsAfter) {
      this.#roundsAfter = lastUser;
      this.#rounds = 0;
    }
    if (this.#rounds < this.maxToolRounds) {
      this.#rounds++;
      return true;
    }
    this.toolRoundsRefused++;
    this.#repeats.reportOnce(
      "maxToolRounds",
      () =>
        `${this.name}: the model asked for a function call in ${this.maxToolRounds} answers in a row without a word ` +
        "from the user (maxToolRounds); the results are recorded but not answered until the user speaks. A toolChoice " +
        'of "required" or a named function makes every answer a call: set it back to "auto" once the call is made',
      "warn",
    );
    return false;
  }

  /**
   * Asks the LLM to answer the settled results: at once when nothing else is going on; after the
   * answer being played ends; or, while the user speaks, through the user's turn.
   */
  #requestRun(): void {
    if (this.#ending) return;
    if (this.#userSpeaking) {
      this.#owed ??= { lastUser: lastUserMessage(this.llmContext) };
      return;
    }
    if (this.#opened !== undefined) {
      this.#runAfterResponse = true;
      return;
    }
    this.#owed = undefined;
    this.#clearOwedTimer();
    this.runsRequested++;
    this.emit("llmRunRequested");
    const pushed = this.pushFrame(new LLMContextFrame(this.llmContext), FrameDirection.UPSTREAM);
    if (pushed) pushed.catch((error: unknown) => void this.pushError(error as Error));
  }

  #armOwedTimer(): void {
    this.#clearOwedTimer();
    this.#owedTimer = this.clock.setTimer(() => {
      this.#owedTimer = undefined;
      const owed = this.#owed;
      this.#owed = undefined;
      // The user's turn added a message: its own run carries the results. Else ask now, outside
      // whatever turn armed the timer (an interruption since must not make the push stale).
      if (!owed || lastUserMessage(this.llmContext) !== owed.lastUser) return;
      turnStore.exit(() => this.#requestRun());
    }, this.userTurnWaitMs);
  }

  #clearOwedTimer(): void {
    this.#owedTimer?.cancel();
    this.#owedTimer = undefined;
  }

  #reset(): void {
    this.#clearOwedTimer();
    this.#owed = undefined;
    this.#runAfterResponse = false;
    this.#opened = undefined;
    this.#text.take();
    this.#groups.clear();
    this.#repeats.flush();
  }
}

function lastUserMessage(context: LLMContext): LLMMessage | undefined {
  const messages = context.messages;
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === "user") return messages[i];
  return undefined;
}

function rejection(call: FunctionCallInfo, reason: "unknown" | "cancelled" | "completed"): string {
  const what = `the result of the ${call.functionName} call ${JSON.stringify(call.toolCallId)}`;
  switch (reason) {
    case "cancelled":
      return `${what} arrived after the call was cancelled; it was not added to the context`;
    case "completed":
      return `${what} arrived twice; the second was ignored`;
    case "unknown":
      return `${what} is for a call the context does not hold (never recorded, or dropped by maxMessages); it was ignored`;
  }
}
