import { VoicepipeError } from "../errors.js";
import type { TelephonyCall, TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/**
 * A provider's call API, for what a media stream cannot do: hang up, transfer
 * (docs/design/telephony.md). A serializer does no I/O; this does.
 */
export interface CallControl {
  readonly provider: TelephonyProvider;
  /** Ends the call. Resolves when the provider accepted it; a call already gone counts as done. */
  hangUp(call: TelephonyCall): Promise<void>;
  /** Transfers the caller to `target` (a phone number or SIP URI), when the provider can. */
  transfer?(call: TelephonyCall, target: string): Promise<void>;
}

/**
 * A call-control request failed: the provider refused it (an HTTP error status, with its own
 * words), did not answer within `timeoutMs`, or could not be reached. The message names the
 * provider, the status and what to do.
 */
export class CallControlError extends VoicepipeError {
  readonly code = "VP_CALL_CONTROL";
  /** The provider whose API refused. */
  readonly provider: TelephonyProvider;
  /** The HTTP status, when the provider answered. */
  readonly status: number | undefined;
  /** Whether trying again later can help (a server error, a rate limit, no answer); never for a refused request. */
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
