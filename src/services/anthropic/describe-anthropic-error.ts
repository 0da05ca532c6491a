import { HttpStatusError, retryAfterMs } from "../http/http-errors.js";
import { describeLLMTransportError } from "../llm/describe-llm-transport-error.js";
import { LLMServiceError } from "../llm/llm-service-error.js";
import { AnthropicStreamErrorEvent } from "./anthropic-stream.js";

/** What messages about an Anthropic failure name. */
export interface AnthropicEndpoint {
  /** The base URL in use (scheme and host). */
  readonly baseUrl: string;
  readonly model: string;
}

/**
 * Says what a failed Anthropic request means (docs/design/llm-services.md, "Anthropic"):
 * 401/403 → `auth` (names ANTHROPIC_API_KEY); 429 → `rate-limited` (with `retry-after`); 529
 * (overloaded), 408, 409, other 5xx and `error` events in the stream → `server` (an
 * `overloaded_error` or `rate_limit_error` event is said as such); 404 → `request` naming the
 * model and ANTHROPIC_BASE_URL; other 4xx → `request`; unreachable or dropped → `connection`;
 * an event that is not JSON → `malformed`; a context Anthropic cannot take → `request`.
 */
export function describeAnthropicError(
  service: string,
  endpoint: AnthropicEndpoint,
  error: unknown,
): LLMServiceError {
  const { baseUrl, model } = endpoint;
  if (error instanceof HttpStatusError) return describeStatus(service, endpoint, error);
  if (error instanceof AnthropicStreamErrorEvent) {
    const said = `${error.type}: ${error.providerMessage}`;
    if (error.type === "overloaded_error") {
      return new LLMServiceError(
        service,
        "server",
        `${service}: Anthropic is overloaded (${said}, sent in the stream: what HTTP 529 means); try again shortly, or fail over to another service`,
        { cause: error },
      );
    }
    if (error.type === "rate_limit_error") {
      return new LLMServiceError(
        service,
        "rate-limited",
        `${service}: rate limited by ${baseUrl} (${said})`,
        {
          cause: error,
        },
      );
    }
    if (error.type === "authentication_error" || error.type === "permission_error") {
      return authError(service, baseUrl, said, undefined, error);
    }
    if (error.type === "invalid_request_error" || error.type === "not_found_error") {
      return new LLMServiceError(service, "request", `${service}: ${baseUrl} refused the request (${said})`, {
        cause: error,
      });
    }
    return new LLMServiceError(
      service,
      "server",
      `${service}: ${baseUrl} sent an error in the stream (${said})`,
      {
        cause: error,
      },
    );
  }
  return describeLLMTransportError(
    service,
    { provider: "Anthropic", baseUrlEnv: "ANTHROPIC_BASE_URL", baseUrl, model },
    error,
  );
}

function describeStatus(
  service: string,
  endpoint: AnthropicEndpoint,
  error: HttpStatusError,
): LLMServiceError {
  const { baseUrl, model } = endpoint;
  const status = error.status;
  const said = providerWords(error);
  if (status === 401 || status === 403) return authError(service, baseUrl, said, status, error);
  if (status === 429) {
    return new LLMServiceError(
      service,
      "rate-limited",
      `${service}: rate limited by ${baseUrl} (HTTP 429: ${said})`,
      {
        status,
        retryAfterMs: retryAfterMs(error.headers),
        cause: error,
      },
    );
  }
  if (status === 529) {
    return new LLMServiceError(
      service,
      "server",
      `${service}: Anthropic is overloaded (HTTP 529: ${said}); try again shortly, or fail over to another service`,
      { status, retryAfterMs: retryAfterMs(error.headers), cause: error },
    );
  }
  if (status === 408 || status === 409 || status >= 500) {
    return new LLMServiceError(service, "server", `${service}: ${baseUrl} failed (HTTP ${status}: ${said})`, {
      status,
      cause: error,
    });
  }
  const hint =
    status === 404
      ? `; check the model name (${model}) and ANTHROPIC_BASE_URL (the scheme and host, e.g. https://api.anthropic.com: /v1/messages is appended)`
      : "";
  return new LLMServiceError(
    service,
    "request",
    `${service}: ${baseUrl} refused the request (HTTP ${status}: ${said})${hint}`,
    { status, cause: error },
  );
}

function authError(
  service: string,
  baseUrl: string,
  said: string,
  status: number | undefined,
  cause: unknown,
): LLMServiceError {
  return new LLMServiceError(
    service,
    "auth",
    `${service}: ${baseUrl} rejected the API key (${status === undefined ? "" : `HTTP ${status}: `}${said}); ` +
      "set ANTHROPIC_API_KEY (or the apiKey option) to a valid key for this endpoint",
    { ...(status === undefined ? {} : { status }), cause },
  );
}

/** `{"type":"error","error":{"type":…,"message":…}}` said as `type: message`; else the body, cut. */
function providerWords(error: HttpStatusError): string {
  const body = error.json as { error?: { type?: unknown; message?: unknown } } | undefined;
  const type = typeof body?.error?.type === "string" ? body.error.type : undefined;
  const message = typeof body?.error?.message === "string" ? body.error.message : undefined;
  if (message) return type ? `${type}: ${message}` : message;
  return error.body === "" ? "no body" : error.body.slice(0, 200);
}
