import { VoicepipeError } from "../errors.js";
import type { TelephonyCall, TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/**
 * Hanging up and transferring a call through the provider's REST API (docs/design/telephony.md).
 * The media stream's serializer does no I/O; an application (or the development server) calls
 * these when the bot decides the call is over or should go to a person.
 */
export interface CallControl {
  readonly provider: TelephonyProvider;
  /** Ends the call. Resolves when the provider accepted it; a call already gone counts as done. */
  hangUp(call: TelephonyCall): Promise<void>;
  /** Transfers the caller to `target` (a phone number or SIP URI), when the provider can. */
  transfer?(call: TelephonyCall, target: string): Promise<void>;
}

/**
 * A provider's call API did not do what was asked: it refused (the HTTP status and the
 * provider's words are in the message), it could not be reached, or it did not answer in time.
 */
export class CallControlError extends VoicepipeError {
  readonly code = "VP_CALL_CONTROL";
  constructor(
    message: string,
    readonly details: {
      readonly provider: TelephonyProvider;
      /** The HTTP status, when the provider answered. */
      readonly status?: number;
      /** Whether the same request may work later (a 5xx, a 429, a timeout, no connection); never for a 4xx. */
      readonly retryable: boolean;
      readonly cause?: unknown;
    },
  ) {
    super(message, { cause: details.cause });
  }
}
