import { VoicepipeError } from "../errors.js";
import type { TelephonyCall, TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/**
 * Hanging up and transferring a call through the provider's REST API (docs/design/telephony.md).
 * A serializer does no I/O, so these never go through the media stream.
 */
export interface CallControl {
  readonly provider: TelephonyProvider;
  /** Ends the call. Resolves when the provider accepted it; a call already gone counts as done. */
  hangUp(call: TelephonyCall): Promise<void>;
  /** Transfers the caller to `target` (a phone number or SIP URI), when the provider can. */
  transfer?(call: TelephonyCall, target: string): Promise<void>;
}

/**
 * A provider's call API refused or did not answer a hang-up or a transfer. The message names
 * the provider, the HTTP status and the provider's own error text, and says what to do.
 */
export class CallControlError extends VoicepipeError {
  readonly code = "VP_CALL_CONTROL";
  /** The provider whose API failed. */
  readonly provider: TelephonyProvider;
  /** The HTTP status, when the provider answered. */
  readonly status: number | undefined;

  constructor(message: string, options: { provider: TelephonyProvider; status?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.provider = options.provider;
    this.status = options.status;
  }
}
