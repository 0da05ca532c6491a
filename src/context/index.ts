/** The LLM conversation context and its provider adapters (docs/design/llm-context.md). */
export {
  LLMContext,
  type LLMContextOptions,
  type LLMContextSnapshot,
  type ToolCallRequest,
  type ToolResultOutcome,
} from "./llm-context.js";
export {
  contentText,
  type AnthropicThinkingBlock,
  type LLMAssistantAnthropicData,
  type LLMAssistantMessage,
  type LLMAudioPart,
  type LLMDeveloperMessage,
  type LLMImagePart,
  type LLMMessage,
  type LLMRole,
  type LLMSystemMessage,
  type LLMTextPart,
  type LLMToolCall,
  type LLMToolCallStatus,
  type LLMToolMessage,
  type LLMUserContentPart,
  type LLMUserMessage,
} from "./messages.js";
export { parseLLMMessage } from "./message-parse.js";
export { isJsonValue, type JsonObject, type JsonValue } from "./json.js";
export type {
  AnyOfSchema,
  ArraySchema,
  BooleanSchema,
  FromSchema,
  JSONSchema,
  NullSchema,
  NumberSchema,
  ObjectSchema,
  StringSchema,
} from "./json-schema.js";
export {
  defineTool,
  parseToolArguments,
  type FunctionSchema,
  type ParsedToolArguments,
  type ToolArguments,
  type ToolChoice,
} from "./tools.js";
export { TOOL_CALL_CANCELLED_TEXT, TOOL_CALL_IN_PROGRESS_TEXT } from "./tool-call-records.js";
export { type ConversionOptions, type LLMRequestInput } from "./adapters/common.js";
export { MISSING_RESULT_TEXT, pairToolResults } from "./adapters/pair-tool-results.js";
export { toOpenAIRequest, type OpenAIChatMessage, type OpenAIChatRequest } from "./adapters/openai.js";
export {
  toAnthropicRequest,
  type AnthropicContentBlock,
  type AnthropicMessage,
  type AnthropicRequest,
} from "./adapters/anthropic.js";
export {
  toGeminiRequest,
  type GeminiContent,
  type GeminiPart,
  type GeminiRequest,
} from "./adapters/gemini.js";
export type { GeminiSchema } from "./adapters/gemini-schema.js";
