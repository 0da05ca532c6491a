import { AnthropicLLMService } from "../../src/services/anthropic/index.js";
import { CartesiaTTSService } from "../../src/services/cartesia/index.js";
import { DeepgramSTTService, DeepgramTTSService } from "../../src/services/deepgram/index.js";
import { ElevenLabsTTSService } from "../../src/services/elevenlabs/index.js";
import { GeminiLLMService } from "../../src/services/gemini/index.js";
import { OpenAILLMService, OpenAISTTService, OpenAITTSService } from "../../src/services/llm/openai/index.js";

/** Environment variables as a service's `env` option takes them. */
export type ServiceEnv = Record<string, string | undefined>;

/**
 * Every provider service that reads its key and base URL from the environment: its name, the
 * base-URL variable, and how to make one from an `env` option (nothing connects until it starts).
 */
export const PROVIDER_SERVICES: readonly (readonly [string, string, (env: ServiceEnv) => unknown])[] = [
  ["DeepgramSTTService", "DEEPGRAM_BASE_URL", (env) => new DeepgramSTTService({ env })],
  ["DeepgramTTSService", "DEEPGRAM_BASE_URL", (env) => new DeepgramTTSService({ env })],
  ["CartesiaTTSService", "CARTESIA_BASE_URL", (env) => new CartesiaTTSService({ env })],
  ["ElevenLabsTTSService", "ELEVENLABS_BASE_URL", (env) => new ElevenLabsTTSService({ env })],
  ["OpenAILLMService", "OPENAI_BASE_URL", (env) => new OpenAILLMService({ env })],
  ["OpenAISTTService", "OPENAI_BASE_URL", (env) => new OpenAISTTService({ env })],
  ["OpenAITTSService", "OPENAI_BASE_URL", (env) => new OpenAITTSService({ env })],
  ["AnthropicLLMService", "ANTHROPIC_BASE_URL", (env) => new AnthropicLLMService({ env })],
  ["GeminiLLMService", "GEMINI_BASE_URL", (env) => new GeminiLLMService({ env })],
];
