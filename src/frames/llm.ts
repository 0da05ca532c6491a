import type { LLMContext, LLMContextSnapshot } from "../context/llm-context.js";
import type { LLMMessage } from "../context/messages.js";
import type { FunctionSchema, ToolChoice } from "../context/tools.js";
import { ControlFrame, DataFrame } from "./frame.js";

/** An OpenAI-shaped chat message (docs/design/llm-context.md). */
export type { LLMMessage };

/** Run the LLM on its current context. */
export class LLMRunFrame extends DataFrame {}

/** Append messages to the LLM context (and optionally run). */
export class LLMMessagesAppendFrame extends DataFrame {
  constructor(
    readonly messages: readonly LLMMessage[],
    readonly runLlm = false,
  ) {
    super();
  }
}

/** Replace the LLM context's messages (and optionally run). */
export class LLMMessagesUpdateFrame extends DataFrame {
  constructor(
    readonly messages: readonly LLMMessage[],
    readonly runLlm = false,
  ) {
    super();
  }
}

/**
 * Set the tools the LLM may call and, when given, the tool choice (otherwise the context keeps
 * its choice, falling back to `"auto"` if it named a tool that is gone).
 */
export class LLMSetToolsFrame extends DataFrame {
  constructor(
    readonly tools: readonly FunctionSchema[],
    readonly toolChoice?: ToolChoice,
  ) {
    super();
  }
}

/**
 * The conversation, for the LLM service to run. It carries the live context (shared with the
 * aggregators); the service takes `context.snapshot()` when it starts the request, so edits made
 * while the answer streams never change what was sent.
 */
export class LLMContextFrame extends DataFrame {
  constructor(readonly context: LLMContext) {
    super();
  }
}

/**
 * The user's words so far, for the LLM service to start answering before the turn is confirmed
 * (preemptive generation, docs/design/llm-services.md). `context` is the live context, still
 * WITHOUT the user's message; `message` is the message the turn will add if it ends with these
 * words; `request` is the context as it would be then (`context.previewAdd([message])`, taken when
 * the frame is made, so a frame handled after the commit still asks for the right thing). The
 * service sends `request` at once and holds the answer; nothing of it goes out until an
 * `LLMContextFrame` arrives whose snapshot is exactly that request, and then it is used as that
 * frame's answer. Any other context, an interruption or the service stopping discards it. Pushed
 * by `LLMUserAggregator` with `preemptiveGeneration` on; a service that does not know it lets it
 * pass, and nothing else acts on it. Throws `LLMContextError` if `message` is malformed.
 */
export class LLMPreemptiveContextFrame extends DataFrame {
  readonly request: LLMContextSnapshot;

  constructor(
    readonly context: LLMContext,
    readonly message: LLMMessage,
  ) {
    super();
    this.request = context.previewAdd([message]);
  }
}

/**
 * Text of an answer an LLM service is holding for a turn not confirmed yet (preemptive generation,
 * docs/design/llm-services.md), as it arrives: `answerId` names the held answer (a new id is a new
 * guess, and replaces the one before), `text` is the next piece of its text, and `last` marks the
 * end of its text (`text` is then empty). Nothing of it has been said or recorded: a TTS service may
 * synthesise the first sentence ahead and hold the audio until the confirmed answer starts with the
 * same sentence (docs/design/tts-services.md, "Preemptive speech"); everything else lets it pass and
 * must not act on it. An interruption drops it, as any data frame.
 */
export class LLMPreemptiveTextFrame extends DataFrame {
  constructor(
    readonly answerId: number,
    readonly text: string,
    readonly last: boolean,
  ) {
    super();
  }
}

/** Marks the start of an LLM response. */
export class LLMFullResponseStartFrame extends ControlFrame {}

/** Marks the end of an LLM response. */
export class LLMFullResponseEndFrame extends ControlFrame {}
