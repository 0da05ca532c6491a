import { EventStreamError, NotEventStreamError, messageWithCause } from "../../http/http-errors.js";
import { LLMServiceError } from "../llm-service-error.js";
import type { OpenAIModule } from "./load-openai.js";

/** Where the key and endpoint came from, for messages that say what to change. */
export interface OpenAIEndpoint {
  /** The base URL in use (the SDK's default when neither the option nor OPENAI_BASE_URL is set). */
  readonly baseURL: string;
  readonly model: string;
}

/**
 * Says what an error thrown by the `openai` SDK means for an LLM service (docs/design/llm-services.md):
 * 401/403 → `auth` (names OPENAI_API_KEY), 429 → `rate-limited` (with `retry-after`), 408/409/5xx
 * and error events in the stream → `server`, other 4xx → `request`, unreachable or dropped → `connection`
 * (naming what broke: "terminated (other side closed)"), a chunk that is not JSON or an event too long →
 * `malformed`, a success whose body is not an event stream → `request` (naming its content type and
 * OPENAI_BASE_URL; see `openAIStreamFetch`).
 */
export function describeOpenAIError(
  sdk: OpenAIModule | undefined,
  service: string,
  endpoint: OpenAIEndpoint,
  error: unknown,
): LLMServiceError {
  if (sdk && error instanceof sdk.APIConnectionError) {
    const cause = error.cause instanceof Error ? `: ${innermostMessage(error.cause)}` : "";
    return new LLMServiceError(
      service,
      "connection",
      `${service}: could not reach ${endpoint.baseURL} (${error.message}${cause}); check OPENAI_BASE_URL (or the baseURL option) and the network`,
      { cause: error },
    );
  }
  if (sdk && error instanceof sdk.APIError) {
    const status = error.status;
    const said = providerMessage(error);
    if (status === 401 || status === 403) {
      return new LLMServiceError(
        service,
        "auth",
        `${service}: ${endpoint.baseURL} rejected the API key (HTTP ${status}: ${said}); ` +
          "set OPENAI_API_KEY (or the apiKey option) to a valid key for this endpoint",
        { status, cause: error },
      );
    }
    if (status === 429) {
      return new LLMServiceError(
        service,
        "rate-limited",
        `${service}: rate limited by ${endpoint.baseURL} (HTTP 429: ${said})`,
        {
          status,
          retryAfterMs: retryAfterMs(error.headers),
          cause: error,
        },
      );
    }
    if (status === undefined || status === 408 || status === 409 || status >= 500) {
      const what = status === undefined ? "sent an error in the stream" : `failed (HTTP ${status})`;
      return new LLMServiceError(service, "server", `${service}: ${endpoint.baseURL} ${what}: ${said}`, {
        ...(status === undefined ? {} : { status }),
        cause: error,
      });
    }
    const hint =
      status === 404
        ? `; check the model name (${endpoint.model}) and OPENAI_BASE_URL (it should end in /v1 for OpenAI)`
        : "";
    return new LLMServiceError(
      service,
      "request",
      `${service}: ${endpoint.baseURL} refused the request (HTTP ${status}: ${said})${hint}`,
      {
        status,
        cause: error,
      },
    );
  }
  if (error instanceof NotEventStreamError) {
    // The same page comes again: a request failure, not retried, that says what to change.
    return new LLMServiceError(
      service,
      "request",
      `${service}: ${error.message}; check OPENAI_BASE_URL (or the baseURL option): it is the API's base URL, such as https://api.openai.com/v1`,
      { cause: error },
    );
  }
  if (error instanceof EventStreamError) {
    return new LLMServiceError(
      service,
      "malformed",
      `${service}: the ${endpoint.model} stream from ${endpoint.baseURL} was malformed (${error.message})`,
      { cause: error },
    );
  }
  if (error instanceof SyntaxError) {
    return new LLMServiceError(
      service,
      "malformed",
      `${service}: a chunk of the ${endpoint.model} stream from ${endpoint.baseURL} was not valid JSON (${error.message}); the stream was abandoned`,
      { cause: error },
    );
  }
  return new LLMServiceError(
    service,
    "connection",
    `${service}: the stream from ${endpoint.baseURL} broke off: ${messageWithCause(error)}`,
    {
      cause: error,
    },
  );
}

/**
 * What went wrong at the bottom of a chain of causes: `fetch` says only "fetch failed" and keeps
 * the socket's error ("connect ECONNREFUSED 127.0.0.1:8080") as its cause.
 */
function innermostMessage(error: Error): string {
  let inner = error;
  for (let depth = 0; depth < 8 && inner.cause instanceof Error; depth++) inner = inner.cause;
  return inner === error ? error.message : `${error.message}: ${inner.message}`;
}

/** The provider's own words, without the SDK's status prefix. */
function providerMessage(error: { message: string; error?: unknown }): string {
  const body = error.error as { message?: unknown } | undefined;
  if (body && typeof body.message === "string" && body.message !== "") return body.message;
  return error.message;
}

/** `retry-after` (seconds, or an HTTP date is ignored) in ms. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = headers?.get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms))) return Number(ms);
  const seconds = headers?.get("retry-after");
  if (seconds && Number.isFinite(Number(seconds))) return Number(seconds) * 1000;
  return undefined;
}
