export {
  LLMUserAggregator,
  type LLMUserAggregatorOptions,
  type PreemptiveGenerationOptions,
  type LLMUserAggregatorEvents,
} from "./llm-user-aggregator.js";
export {
  LLMAssistantAggregator,
  type LLMAssistantAggregatorOptions,
  type LLMAssistantAggregatorEvents,
} from "./llm-assistant-aggregator.js";
export { LLMContextAggregatorPair, type LLMContextAggregatorPairOptions } from "./context-aggregator-pair.js";
