import { LLMContextError } from "../../errors.js";
import {
  EventStreamError,
  HttpConnectionError,
  NotEventStreamError,
  messageWithCause,
} from "../http/http-errors.js";
import { LLMServiceError } from "./llm-service-error.js";

/** What messages about a failed request to an HTTP LLM provider name. */
export interface LLMTransportEndpoint {
  /** The provider's name, e.g. "Anthropic". */
  readonly provider: string;
  /** The base URL in use (scheme and host). */
  readonly baseUrl: string;
  /** The environment variable that sets the base URL, e.g. "ANTHROPIC_BASE_URL". */
  readonly baseUrlEnv: string;
  readonly model: string;
}

/**
 * Says what a failure every HTTP streaming LLM service meets alike means
 * (docs/design/llm-services.md): unreachable or dropped → `connection` (before the stream,
 * naming the base URL's variable); an answer that is not an event stream (a proxy's or a portal's
 * page, a wrong base URL) → `request`, not retried (the same page would come again), naming the
 * base URL's variable; an event that could not be read → `malformed`; a context
 * the provider's adapter refused → `request`; anything else → `connection`. The provider's own
 * answers (an HTTP status, an error event) are its describer's to read first.
 */
export function describeLLMTransportError(
  service: string,
  endpoint: LLMTransportEndpoint,
  error: unknown,
): LLMServiceError {
  const { provider, baseUrl, baseUrlEnv, model } = endpoint;
  if (error instanceof HttpConnectionError) {
    const hint = error.midStream ? "" : `; check ${baseUrlEnv} (or the baseUrl option) and the network`;
    return new LLMServiceError(service, "connection", `${service}: ${error.message}${hint}`, {
      cause: error,
    });
  }
  if (error instanceof NotEventStreamError) {
    return new LLMServiceError(
      service,
      "request",
      `${service}: ${error.message}; check ${baseUrlEnv} (or the baseUrl option): it is the scheme and host of ${provider}'s API`,
      { cause: error },
    );
  }
  if (error instanceof EventStreamError) {
    return new LLMServiceError(
      service,
      "malformed",
      `${service}: the ${model} stream from ${baseUrl} was malformed (${error.message}); the stream was abandoned`,
      { cause: error },
    );
  }
  if (error instanceof LLMContextError) {
    return new LLMServiceError(
      service,
      "request",
      `${service}: the context cannot be sent to ${provider}: ${error.message}`,
      { cause: error },
    );
  }
  return new LLMServiceError(
    service,
    "connection",
    `${service}: the request to ${baseUrl} failed: ${messageWithCause(error)}`,
    {
      cause: error,
    },
  );
}
