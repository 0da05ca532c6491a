/** The LLM service base and its types (docs/design/llm-services.md). */
export { LLMService, type LLMServiceEvents, type LLMServiceOptions } from "./llm-service.js";
export { LLMServiceError, type LLMFailure } from "./llm-service-error.js";
export type { LLMCompletionRequest, LLMCutShortReason, LLMStreamEvent, LLMUsage } from "./llm-stream.js";
export { ToolCallAssembler, MAX_TOOL_CALLS, type AssembledToolCall } from "./tool-call-assembler.js";
