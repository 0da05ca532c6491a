/** The Anthropic Messages LLM service (no SDK needed): docs/design/llm-services.md. */
export { AnthropicLLMService, type AnthropicLLMServiceOptions } from "./anthropic-llm-service.js";
export { AnthropicStreamErrorEvent } from "./anthropic-stream.js";
