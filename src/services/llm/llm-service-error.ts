import { VoicepipeError } from "../../errors.js";

/**
 * Why an LLM completion failed (docs/design/llm-services.md):
 * - `auth`: the provider refused the key (401/403); permanent until the key changes.
 * - `missing-key`: no key was configured; permanent.
 * - `missing-sdk`: the provider's SDK is not installed; permanent.
 * - `rate-limited`: HTTP 429; retried once.
 * - `server`: HTTP 5xx (or 408); retried once.
 * - `connection`: the server could not be reached or dropped the connection; retried once.
 * - `stalled`: no chunk arrived within `stallTimeoutMs`; retried once when nothing was pushed yet.
 * - `malformed`: a chunk could not be understood; retried once when nothing was pushed yet.
 * - `request`: the provider refused the request itself (400, 404, 422…); permanent for this
 *   request, not for the service (the next context may be fine).
 */
export type LLMFailure =
  | "auth"
  | "missing-key"
  | "missing-sdk"
  | "rate-limited"
  | "server"
  | "connection"
  | "stalled"
  | "malformed"
  | "request";

/** Failures after which the service cannot work until its settings change. */
const UNUSABLE: ReadonlySet<LLMFailure> = new Set(["auth", "missing-key", "missing-sdk"]);
/** Failures worth one more attempt. */
const RETRYABLE: ReadonlySet<LLMFailure> = new Set([
  "rate-limited",
  "server",
  "connection",
  "stalled",
  "malformed",
]);

/**
 * An LLM completion failed. The message names the service, what happened and what to do.
 * `retryable` says whether another attempt can help; `unusable` whether the service is out of
 * action until its settings change (a rejected or missing key, a missing SDK).
 */
export class LLMServiceError extends VoicepipeError {
  readonly code = "VP_LLM_SERVICE";

  constructor(
    /** Name of the service that failed. */
    readonly service: string,
    readonly failure: LLMFailure,
    message: string,
    details: {
      /** The provider's HTTP status, when it answered with one. */
      status?: number;
      /** How long the provider asked us to wait before retrying (`retry-after`), in ms. */
      retryAfterMs?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** The provider's HTTP status, when it answered with one. */
  readonly status: number | undefined;
  /** How long the provider asked us to wait before retrying, in ms, when it said. */
  readonly retryAfterMs: number | undefined;

  /** Another attempt with the same settings may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.failure);
  }

  /** The service cannot work until its settings change. */
  get unusable(): boolean {
    return UNUSABLE.has(this.failure);
  }
}
