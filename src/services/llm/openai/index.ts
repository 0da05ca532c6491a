/** The OpenAI LLM service (needs the optional `openai` package): docs/design/llm-services.md. */
export { OpenAILLMService, type OpenAILLMServiceOptions } from "./openai-llm-service.js";
