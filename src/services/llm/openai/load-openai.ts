import type * as OpenAISdk from "openai";
import { LLMServiceError } from "../llm-service-error.js";

/** The `openai` package's module, as `import("openai")` gives it. */
export type OpenAIModule = typeof OpenAISdk;

/**
 * Loads the `openai` SDK, an optional peer dependency, the first time a service needs it, so
 * users of other providers never load (or install) it. A missing package is an
 * {@link LLMServiceError} (`missing-sdk`) that says what to install; any other failure is thrown
 * as it is. `specifier` exists for tests.
 */
export async function loadOpenAI(service: string, specifier = "openai"): Promise<OpenAIModule> {
  try {
    return (await import(specifier)) as OpenAIModule;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") throw error;
    throw new LLMServiceError(
      service,
      "missing-sdk",
      `${service}: the openai package is not installed; the OpenAI LLM service needs it: npm install openai@^6`,
      { cause: error },
    );
  }
}
