import { VoicepipeError } from "../../errors.js";

/** Why a {@link ProviderSocket} gave up for good. */
export type ProviderSocketFailure =
  /** The provider answered the upgrade with an HTTP 4xx that retrying cannot fix (401, 403, 404, 400…). */
  | "rejected"
  /** `maxAttempts` connection attempts in a row failed (refused, 5xx, 429, timed out, dropped early). */
  | "gave-up"
  /** The provider closed an open connection with a close code that says retrying cannot help (1008…). */
  | "closed"
  /** The URL is not one a WebSocket can connect to. */
  | "invalid-url"
  /** A header (the API key, usually) holds what HTTP cannot carry, such as a line break. */
  | "invalid-headers";

/**
 * A provider's WebSocket failed permanently: the socket will not reconnect and the service that
 * owns it cannot work until its settings change. The message names the service, what happened
 * and what to do. Never retryable (`retryable` is always `false`): transient failures are retried
 * inside the socket and never surface as this error.
 */
export class ProviderSocketError extends VoicepipeError {
  readonly code = "VP_PROVIDER_SOCKET";
  /** Retrying with the same settings cannot help. */
  readonly retryable = false;
  /** The HTTP status of a rejected upgrade (for `rejected`, and `gave-up` when the last attempt got one). */
  readonly status: number | undefined;
  /** The close code, for `closed`. */
  readonly closeCode: number | undefined;

  constructor(
    readonly service: string,
    readonly failure: ProviderSocketFailure,
    message: string,
    details: { status?: number; closeCode?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.closeCode = details.closeCode;
  }
}

/** What a failed connection attempt was, in words a user can act on (internal). */
export interface AttemptFailure {
  /** Short cause key for the repeat reporter ("http:503", "network:ECONNREFUSED", "timeout"). */
  readonly key: string;
  /** What happened, e.g. "HTTP 503 Service Unavailable (body: …)". */
  readonly what: string;
  /** HTTP status, when the server answered the upgrade. */
  readonly status?: number;
  /** Retrying cannot help (a 4xx other than 408 and 429, or a URL that cannot be used). */
  readonly permanent: boolean;
  readonly cause?: unknown;
}

/** Names the env variables a message may point at. */
export interface Advice {
  /** The variable holding the API key, e.g. `DEEPGRAM_API_KEY`. */
  readonly apiKeyEnv?: string | undefined;
  /** The variable holding the base URL, e.g. `DEEPGRAM_BASE_URL`. */
  readonly baseUrlEnv?: string | undefined;
}

/** Statuses retried with backoff: the server may answer differently in a moment. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A close code an open connection may end with that says retrying cannot help. */
export const DEFAULT_PERMANENT_CLOSE_CODES: readonly number[] = [1002, 1003, 1007, 1008];
