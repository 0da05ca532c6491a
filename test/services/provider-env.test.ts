import { afterEach, describe, expect, it } from "vitest";
import { CartesiaTTSService } from "../../src/services/cartesia/index.js";
import { DeepgramSTTService, DeepgramTTSService } from "../../src/services/deepgram/index.js";
import { ElevenLabsTTSService } from "../../src/services/elevenlabs/index.js";
import { AnthropicLLMService } from "../../src/services/anthropic/index.js";
import { GeminiLLMService } from "../../src/services/gemini/index.js";
import { OpenAILLMService, OpenAISTTService, OpenAITTSService } from "../../src/services/llm/openai/index.js";

type Env = Record<string, string | undefined>;

/** Every provider service that reads a base URL from the environment, with its variable. */
const SERVICES: readonly [string, string, (env: Env) => unknown][] = [
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

const saved = new Map<string, string | undefined>();
afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
});
function setProcessEnv(name: string, value: string): void {
  if (!saved.has(name)) saved.set(name, process.env[name]);
  process.env[name] = value;
}

describe("provider services read their endpoint from the env option", () => {
  it.each(SERVICES)(
    "%s: a %s that is not a URL is refused when the service is made, naming the variable",
    (_name, variable, make) => {
      expect(() => make({ [variable]: "not a url" })).toThrow(variable);
    },
  );

  it.each(SERVICES)("%s: with an env option, %s in process.env is not read", (_name, variable, make) => {
    setProcessEnv(variable, "not a url");
    expect(() => make({})).not.toThrow();
    expect(() => make({ [variable]: "http://127.0.0.1:9" })).not.toThrow();
  });
});
