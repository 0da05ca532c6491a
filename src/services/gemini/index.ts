/** The Google Gemini LLM service (no SDK needed): docs/design/llm-services.md. */
export { GeminiLLMService, MAX_KEPT_SIGNATURES, type GeminiLLMServiceOptions } from "./gemini-llm-service.js";
export { GeminiPromptBlockedError, GeminiStreamErrorEvent } from "./gemini-stream.js";
