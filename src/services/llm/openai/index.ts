/** The OpenAI LLM service (needs the optional `openai` package): docs/design/llm-services.md. */
export { OpenAILLMService, type OpenAILLMServiceOptions } from "./openai-llm-service.js";
/** OpenAI speech and transcription over HTTP (no SDK needed): docs/design/tts-services.md, docs/design/stt-services.md. */
export {
  OpenAITTSService,
  type OpenAITTSServiceOptions,
  OPENAI_TTS_SAMPLE_RATE,
  OpenAISTTService,
  type OpenAISTTServiceOptions,
  OpenAIAudioError,
  type OpenAIAudioFailure,
  OPENAI_DEFAULT_BASE_URL,
  type OpenAIEndpointOptions,
} from "../../openai-audio/index.js";
