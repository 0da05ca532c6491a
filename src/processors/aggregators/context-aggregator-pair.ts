import type { LLMContext } from "../../context/llm-context.js";
import { LLMAssistantAggregator, type LLMAssistantAggregatorOptions } from "./llm-assistant-aggregator.js";
import { LLMUserAggregator, type LLMUserAggregatorOptions } from "./llm-user-aggregator.js";

/** Options of {@link LLMContextAggregatorPair}. */
export interface LLMContextAggregatorPairOptions {
  user?: LLMUserAggregatorOptions;
  /** `userTurnWaitMs` defaults to the user aggregator's `transcriptWaitMs` + 200 ms. */
  assistant?: LLMAssistantAggregatorOptions;
}

/**
 * The two aggregators of one conversation, sharing one {@link LLMContext}
 * (docs/design/conversation.md): `user()` goes before the LLM service, `assistant()` after the
 * output transport.
 *
 * @example
 * const context = new LLMContext({ messages: [{ role: "system", content: "You are brief." }], tools });
 * const aggregators = new LLMContextAggregatorPair(context);
 * new Pipeline([
 *   transport.input(), vad, stt, turns, aggregators.user(), llm, tts, transport.output(), aggregators.assistant(),
 * ]);
 */
export class LLMContextAggregatorPair {
  readonly #user: LLMUserAggregator;
  readonly #assistant: LLMAssistantAggregator;

  constructor(
    readonly context: LLMContext,
    options: LLMContextAggregatorPairOptions = {},
  ) {
    this.#user = new LLMUserAggregator(context, options.user);
    this.#assistant = new LLMAssistantAggregator(context, {
      ...options.assistant,
      userTurnWaitMs: options.assistant?.userTurnWaitMs ?? this.#user.transcriptWaitMs + 200,
    });
  }

  /** The user aggregator: after the turn processor, before the LLM service. */
  user(): LLMUserAggregator {
    return this.#user;
  }

  /** The assistant aggregator: after the output transport. */
  assistant(): LLMAssistantAggregator {
    return this.#assistant;
  }
}
