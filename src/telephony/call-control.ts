import type { Clock } from "../clock/clock.js";
import { VoicepipeError } from "../errors.js";
import type { TelephonyCall, TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/**
 * Hanging up and transferring a phone call through the provider's REST API
 * (docs/design/telephony.md). A serializer does no I/O: these are separate, and optional (they
 * need the account's credentials). One instance serves every call of an account.
 */
export interface CallControl {
  readonly provider: TelephonyProvider;
  /** Ends the call. Resolves when the provider accepted it; a call already gone counts as done. */
  hangUp(call: TelephonyCall): Promise<void>;
  /** Transfers the caller to `target` (a phone number or SIP URI), when the provider can. */
  transfer?(call: TelephonyCall, target: string): Promise<void>;
}

/** Options every {@link CallControl} implementation takes besides its credentials. */
export interface CallControlOptions {
  /**
   * Scheme and host of the provider's REST API (a regional host, a proxy, or a loopback fake in
   * tests); the provider's paths are appended. @default the provider's public API host
   */
  baseUrl?: string;
  /**
   * Longest one operation (hang-up, transfer) may take, in ms, from the first byte sent to the
   * answer read, a retry included; then it fails with a {@link CallControlError}. @default 5000
   */
  timeoutMs?: number;
  /** Clock of that deadline. @default a new SystemClock */
  clock?: Clock;
}

/** The default of {@link CallControlOptions.timeoutMs}. */
export const DEFAULT_CALL_CONTROL_TIMEOUT_MS = 5000;

/**
 * A hang-up or a transfer failed: the provider refused it (an HTTP error status, with its own
 * words), did not answer within `timeoutMs`, or could not be reached. The message names the
 * provider, the status and the provider's own error text when there was an answer, and what to do.
 */
export class CallControlError extends VoicepipeError {
  readonly code = "VP_CALL_CONTROL";
  /** The provider whose API failed. */
  readonly provider: TelephonyProvider;
  /** The HTTP status of the provider's answer; undefined when none came (no connection, a deadline, a refusal before sending). */
  readonly status: number | undefined;
  /**
   * Whether trying again later may help: no answer, a 5xx or a 429. A 4xx other than 429 is the
   * request's fault (credentials, ids, arguments) and is never retried.
   */
  readonly retryable: boolean;

  constructor(
    message: string,
    options: { provider: TelephonyProvider; status?: number; retryable?: boolean; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.provider = options.provider;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}
