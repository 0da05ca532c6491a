import { VoicepipeError } from "../../errors.js";
import { MissingApiKeyError } from "../service-errors.js";

/**
 * A TTS provider service has no API key: neither its `apiKey` option nor its environment
 * variable is set. Permanent: the service cannot speak until it is set. The message names the
 * variable. A {@link MissingApiKeyError}, as an STT service's is.
 */
export class MissingTTSApiKeyError extends MissingApiKeyError {
  constructor(service: string, envVar: string) {
    super(service, envVar, "speak");
  }
}

/**
 * The provider refused or failed one piece of text (a Cartesia `error` message, an ElevenLabs
 * `error`), or the connection was lost while the piece was being spoken. Not permanent: the next
 * piece is tried. The message quotes the provider (bounded) and says what to check.
 */
export class TTSProviderError extends VoicepipeError {
  readonly code = "VP_TTS_PROVIDER";
  constructor(
    readonly service: string,
    message: string,
    /** What the provider said, as it said it (at most 300 characters). */
    readonly providerMessage?: string,
  ) {
    super(message);
  }
}

/** A provider's text, cut to `max` characters for a message. */
export function quoteProvider(text: string, max = 300): string {
  const flat = text.replace(/\s+/gu, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
