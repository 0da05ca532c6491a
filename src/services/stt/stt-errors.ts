import { VoicepipeError } from "../../errors.js";

/**
 * A service has no API key: neither its `apiKey` option nor its environment variable is set.
 * The message names the variable. Not retryable: the service cannot work until it is set.
 */
export class MissingApiKeyError extends VoicepipeError {
  readonly code = "VP_MISSING_API_KEY";
  readonly retryable = false;
  constructor(
    readonly service: string,
    readonly envVar: string,
  ) {
    super(
      `${service}: no API key: set ${envVar} in the environment (or pass the apiKey option); ` +
        "the service cannot transcribe without one",
    );
  }
}
