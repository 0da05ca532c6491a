import { HttpStatusError, retryAfterMs } from "../http/http-errors.js";
import { describeLLMTransportError } from "../llm/describe-llm-transport-error.js";
import { LLMServiceError } from "../llm/llm-service-error.js";
import { GeminiPromptBlockedError, GeminiStreamErrorEvent } from "./gemini-stream.js";

/** What messages about a Gemini failure name. */
export interface GeminiEndpoint {
  readonly baseUrl: string;
  readonly model: string;
  /** Where the key came from: `GOOGLE_API_KEY`, `GEMINI_API_KEY` or `the apiKey option`. */
  readonly keySource: string;
}

/**
 * Says what a failed Gemini request means (docs/design/llm-services.md, "Gemini"): 401/403, and
 * a 400 whose reason is `API_KEY_INVALID` (how Google answers a bad key) → `auth`, naming the
 * key's variable; 429 → `rate-limited` (with `retry-after` or the body's `RetryInfo.retryDelay`);
 * 408, 409, 5xx and server errors sent in the stream → `server`; 404 → `request` naming the model
 * and GEMINI_BASE_URL; other 4xx and a blocked prompt → `request`; unreachable or dropped →
 * `connection`; a chunk that is not JSON → `malformed`.
 */
export function describeGeminiError(
  service: string,
  endpoint: GeminiEndpoint,
  error: unknown,
): LLMServiceError {
  const { baseUrl, model } = endpoint;
  if (error instanceof HttpStatusError) {
    const body = googleError(error.json);
    const said = body.message ?? (error.body === "" ? "no body" : error.body.slice(0, 200));
    const words = body.status ? `${body.status}: ${said}` : said;
    return describeCode(service, endpoint, error.status, words, body, retryAfterMs(error.headers), error);
  }
  if (error instanceof GeminiStreamErrorEvent) {
    const words = `${error.status ?? "error"}: ${error.providerMessage}, sent in the stream`;
    return describeCode(service, endpoint, error.code, words, {}, undefined, error);
  }
  if (error instanceof GeminiPromptBlockedError) {
    return new LLMServiceError(
      service,
      "request",
      `${service}: ${error.message}; nothing was said. Rephrase the conversation, or adjust safetySettings in params`,
      { cause: error },
    );
  }
  return describeLLMTransportError(
    service,
    { provider: "Gemini", baseUrlEnv: "GEMINI_BASE_URL", baseUrl, model },
    error,
  );
}

interface GoogleError {
  readonly message?: string;
  readonly status?: string;
  /** `ErrorInfo.reason` values, e.g. `API_KEY_INVALID`. */
  readonly reasons?: readonly string[];
  /** `RetryInfo.retryDelay` in ms. */
  readonly retryDelayMs?: number;
}

function describeCode(
  service: string,
  endpoint: GeminiEndpoint,
  code: number | undefined,
  said: string,
  body: GoogleError,
  headerRetryMs: number | undefined,
  cause: unknown,
): LLMServiceError {
  const { baseUrl, model, keySource } = endpoint;
  const status = code === undefined ? {} : { status: code };
  const badKey = body.reasons?.some((r) => r === "API_KEY_INVALID" || r === "API_KEY_SERVICE_BLOCKED");
  if (code === 401 || code === 403 || badKey) {
    return new LLMServiceError(
      service,
      "auth",
      `${service}: ${baseUrl} rejected the API key from ${keySource} (HTTP ${code ?? "?"}: ${said}); ` +
        "set GOOGLE_API_KEY or GEMINI_API_KEY (GOOGLE_API_KEY wins when both are set), or the apiKey option, to a valid Gemini API key",
      { ...status, cause },
    );
  }
  if (code === 429) {
    const wait = headerRetryMs ?? body.retryDelayMs;
    return new LLMServiceError(
      service,
      "rate-limited",
      `${service}: rate limited by ${baseUrl} (HTTP 429: ${said})`,
      {
        ...status,
        ...(wait === undefined ? {} : { retryAfterMs: wait }),
        cause,
      },
    );
  }
  if (code === undefined || code === 408 || code === 409 || code >= 500) {
    const what = code === undefined ? "sent an error" : `failed (HTTP ${code}`;
    return new LLMServiceError(
      service,
      "server",
      `${service}: ${baseUrl} ${what}${code === undefined ? "" : ")"}: ${said}`,
      { ...status, cause },
    );
  }
  const hint =
    code === 404
      ? `; check the model name (${model}) and GEMINI_BASE_URL (the scheme and host, e.g. https://generativelanguage.googleapis.com: /v1beta/models/<model>:streamGenerateContent is appended)`
      : "";
  return new LLMServiceError(
    service,
    "request",
    `${service}: ${baseUrl} refused the request (HTTP ${code}: ${said})${hint}`,
    {
      ...status,
      cause,
    },
  );
}

/** `{"error":{"code","message","status","details":[…]}}`, the fields we use. */
function googleError(json: unknown): GoogleError {
  const error = (json as { error?: unknown } | undefined)?.error;
  if (typeof error !== "object" || error === null) return {};
  const e = error as { message?: unknown; status?: unknown; details?: unknown };
  const details = Array.isArray(e.details) ? (e.details as unknown[]) : [];
  const reasons: string[] = [];
  let retryDelayMs: number | undefined;
  for (const d of details) {
    if (typeof d !== "object" || d === null) continue;
    const { reason, retryDelay } = d as { reason?: unknown; retryDelay?: unknown };
    if (typeof reason === "string") reasons.push(reason);
    // A protobuf Duration in JSON: "37s", "0.5s".
    if (typeof retryDelay === "string" && /^\d+(\.\d+)?s$/.test(retryDelay)) {
      retryDelayMs = Number(retryDelay.slice(0, -1)) * 1000;
    }
  }
  return {
    ...(typeof e.message === "string" ? { message: e.message } : {}),
    ...(typeof e.status === "string" ? { status: e.status } : {}),
    reasons,
    ...(retryDelayMs === undefined ? {} : { retryDelayMs }),
  };
}
