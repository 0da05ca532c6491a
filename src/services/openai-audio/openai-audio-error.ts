import { VoicepipeError, describe } from "../../errors.js";
import type { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { readBody } from "./read-body.js";

/**
 * Why a request to OpenAI's audio endpoints failed (docs/design/tts-services.md, "OpenAI speech"):
 * - `missing-key`: no key configured (neither the option nor `OPENAI_API_KEY`); permanent.
 * - `auth`: the endpoint refused the key (HTTP 401/403); permanent until the key changes.
 * - `rate-limited`: HTTP 429; retried once.
 * - `server`: HTTP 5xx, 408 or 409; retried once.
 * - `connection`: the server could not be reached, or the body broke off; retried once when
 *   nothing was delivered yet.
 * - `request`: the endpoint refused the request itself (400, 404, 413, 422…): this input or
 *   setting is wrong; not retried.
 * - `malformed`: the answer could not be read (not JSON, no `text`).
 */
export type OpenAIAudioFailure =
  "missing-key" | "auth" | "rate-limited" | "server" | "connection" | "request" | "malformed";

/**
 * One stable code per kind of failure, so "the same failure again" is told apart from a new one
 * (a rejected key after a 500) by whoever counts repeats by code.
 */
const CODES = {
  "missing-key": "VP_OPENAI_AUDIO_MISSING_KEY",
  auth: "VP_OPENAI_AUDIO_AUTH",
  "rate-limited": "VP_OPENAI_AUDIO_RATE_LIMITED",
  server: "VP_OPENAI_AUDIO_SERVER",
  connection: "VP_OPENAI_AUDIO_CONNECTION",
  request: "VP_OPENAI_AUDIO_REQUEST",
  malformed: "VP_OPENAI_AUDIO_MALFORMED",
} as const;

const RETRYABLE: ReadonlySet<OpenAIAudioFailure> = new Set(["rate-limited", "server", "connection"]);
const PERMANENT: ReadonlySet<OpenAIAudioFailure> = new Set(["missing-key", "auth"]);

/**
 * A request to OpenAI's audio API (speech or transcription) failed. The message names the
 * service, the endpoint, what the server said, and what to do (the env var of the key, of the
 * endpoint, the model).
 */
export class OpenAIAudioError extends VoicepipeError {
  readonly code: (typeof CODES)[OpenAIAudioFailure];
  /** The HTTP status, when the server answered with one. */
  readonly status: number | undefined;
  /** How long the server asked us to wait (`retry-after-ms` / `retry-after`), in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    /** The service that made the request. */
    readonly service: string,
    readonly failure: OpenAIAudioFailure,
    message: string,
    details: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = CODES[failure];
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** Whether one more attempt can help (429, 5xx, a dropped connection). */
  get retryable(): boolean {
    return RETRYABLE.has(this.failure);
  }

  /** Whether the service cannot work until its settings change (no key, a rejected key). */
  get permanent(): boolean {
    return PERMANENT.has(this.failure);
  }
}

/** Most bytes of an error body read for its message: a server cannot make us hold more. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

/**
 * Turns a non-2xx answer into an {@link OpenAIAudioError}, reading at most 16 KiB of its body for
 * OpenAI's `{"error":{"message"}}` (or the body's start when it is not that shape).
 */
export async function errorFromResponse(
  service: string,
  endpoint: { readonly baseURL: string; readonly model: string },
  response: Response,
): Promise<OpenAIAudioError> {
  const status = response.status;
  const said =
    providerMessage((await readBody(response, MAX_ERROR_BODY_BYTES).catch(() => undefined))?.text ?? "") ||
    response.statusText;
  const where = endpoint.baseURL;
  if (status === 401 || status === 403) {
    return new OpenAIAudioError(
      service,
      "auth",
      `${service}: ${where} rejected the API key (HTTP ${status}: ${said}); ` +
        "set OPENAI_API_KEY (or the apiKey option) to a valid key for this endpoint",
      { status },
    );
  }
  if (status === 429) {
    const retryAfterMs = retryAfter(response.headers);
    return new OpenAIAudioError(
      service,
      "rate-limited",
      `${service}: rate limited by ${where} (HTTP 429: ${said})`,
      {
        status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      },
    );
  }
  if (status === 408 || status === 409 || status >= 500) {
    return new OpenAIAudioError(service, "server", `${service}: ${where} failed (HTTP ${status}: ${said})`, {
      status,
    });
  }
  const hint =
    status === 404
      ? `; check the model (${endpoint.model}) and OPENAI_BASE_URL (for OpenAI it ends in /v1)`
      : status === 413
        ? "; the audio is too large for one request (lower maxSegmentMs)"
        : "";
  return new OpenAIAudioError(
    service,
    "request",
    `${service}: ${where} refused the request (HTTP ${status}: ${said})${hint}`,
    { status },
  );
}

/**
 * The error for a service started without a key (neither the option nor `OPENAI_API_KEY`):
 * permanent; `without` says what the service cannot do ("transcribe", "speak").
 */
export function missingKeyError(service: string, without: string): OpenAIAudioError {
  return new OpenAIAudioError(
    service,
    "missing-key",
    `${service}: no API key: set OPENAI_API_KEY in the environment (or pass the apiKey option); the service cannot ${without} without one`,
  );
}

/** Warns once per kind of failure that a request is being tried again (`reporter` counts the repeats). */
export function reportRetry(reporter: RepeatReporter, error: OpenAIAudioError): void {
  reporter.reportOnce(`retry:${error.failure}`, () => `${error.message}; trying once more`, "warn");
}

/** A fetch that failed before an answer, or a body that broke off. */
export function connectionError(
  service: string,
  baseURL: string,
  error: unknown,
  during: "connecting" | "reading",
): OpenAIAudioError {
  const cause = error instanceof Error ? error.cause : undefined;
  const detail =
    describe(error) + (cause instanceof Error && cause.message !== "" ? ` (${cause.message})` : "");
  const message =
    during === "connecting"
      ? `${service}: could not reach ${baseURL} (${detail}); check OPENAI_BASE_URL (or the baseURL option) and the network`
      : `${service}: the answer from ${baseURL} broke off (${detail})`;
  return new OpenAIAudioError(service, "connection", message, { cause: error });
}

/** OpenAI's `error.message`, or the start of the body; one line, at most 300 characters. */
function providerMessage(body: string): string {
  let text = body;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string };
    const error = parsed.error;
    if (typeof error === "string") text = error;
    else if (error && typeof error.message === "string") text = error.message;
  } catch {
    /* not JSON: the text itself */
  }
  const flat = text.replace(/\s+/gu, " ").trim();
  return flat.length <= 300 ? flat : `${flat.slice(0, 299)}…`;
}

/** `retry-after-ms`, else `retry-after` in seconds (an HTTP date is ignored), in ms. */
function retryAfter(headers: Headers): number | undefined {
  const ms = Number(headers.get("retry-after-ms") ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const seconds = Number(headers.get("retry-after") ?? Number.NaN);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  return undefined;
}
