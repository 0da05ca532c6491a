import type { LLMContextSnapshot } from "../../context/llm-context.js";
import type { AnthropicThinkingBlock } from "../../context/messages.js";

/** What an LLM service's {@link LLMService.streamCompletion} is asked to run. */
export interface LLMCompletionRequest {
  /** The conversation, frozen when the request started. */
  readonly context: LLMContextSnapshot;
  /**
   * Aborted when the request must stop: an interruption, a newer context, a stall, cancel. Hand
   * it to the provider's client so the HTTP request is closed at once.
   */
  readonly signal: AbortSignal;
}

/** A piece of a streamed answer, in a form common to every provider. */
export type LLMStreamEvent =
  /** Answer text, in the order the model produced it. */
  | { readonly type: "text"; readonly text: string }
  /**
   * A fragment of a tool call. Fragments of one call share `index`; `id` and `name` come with
   * one of them (usually the first); `arguments` fragments are concatenated in order and make a
   * JSON document once the stream ends.
   */
  | {
      readonly type: "tool-call";
      readonly index: number;
      readonly id?: string | undefined;
      readonly name?: string | undefined;
      readonly arguments?: string | undefined;
    }
  /**
   * The model is thinking (extended thinking): nothing to speak, but the stream is alive, so it
   * counts as a piece against `stallTimeoutMs`. `anthropic` carries a whole Anthropic thinking
   * block once it is complete: the service keeps it with the answer's tool calls in the context
   * (docs/design/llm-services.md, "Anthropic"), and drops it when the answer calls no tool.
   */
  | { readonly type: "thinking"; readonly anthropic?: AnthropicThinkingBlock | undefined }
  /** Token counts for the whole request (sent once, near the end of the stream). */
  | { readonly type: "usage"; readonly usage: LLMUsage }
  /**
   * The model stopped before its answer was done: at the output token limit (`max-tokens`), or
   * by the provider's content filter (`filtered`). The answer so far is still spoken; the
   * service says why once, then counts.
   */
  | { readonly type: "cut-short"; readonly reason: LLMCutShortReason }
  /**
   * The provider said the answer is complete (OpenAI's `finish_reason`, Anthropic's
   * `message_stop`, Gemini's `finishReason`). The base finishes the answer here (tool calls run,
   * `LLMFullResponseEndFrame`) and reads the rest of the body in the background, bounded, so the
   * connection can be reused; nobody waits for the body to end (docs/design/llm-services.md,
   * "The end of an answer"). With `usageWithinMs`, the usage is expected in a later chunk (OpenAI's
   * `include_usage`): the base waits for it at most that long, then finishes without it.
   * A provider that never yields it is finished when its stream ends.
   */
  | { readonly type: "complete"; readonly usageWithinMs?: number | undefined };

/** Why a model stopped before its answer was done. */
export type LLMCutShortReason = "max-tokens" | "filtered";

/** Token counts of one completion. */
export interface LLMUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  /** Prompt tokens served from the provider's cache, when it says. */
  readonly cachedTokens?: number | undefined;
  /** Completion tokens spent on reasoning, when it says. */
  readonly reasoningTokens?: number | undefined;
}
