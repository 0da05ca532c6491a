import { MissingApiKeyError, ProgramFailedError, ProgramNotFoundError } from "../service-errors.js";

export { MissingApiKeyError };

/**
 * The speech recogniser's program is not installed (or not where it was said to be). Permanent:
 * the service cannot transcribe until it is installed. The message names the program and how to
 * install it.
 */
export class STTBinaryNotFoundError extends ProgramNotFoundError {
  readonly code = "VP_STT_BINARY_NOT_FOUND";
  readonly retryable = false;
  /**
   * @param binary the program that was run (a name looked up on `PATH`, or a path).
   * @param installHint how to install it, e.g. "sudo apt-get install pocketsphinx pocketsphinx-en-us".
   */
  constructor(binary: string, installHint: string, cause?: unknown) {
    super(binary, installHint, "the speech recognition program", cause);
  }
}

/** The speech recogniser's program ended with an error (non-zero exit, or a signal we did not send). */
export class STTCommandFailedError extends ProgramFailedError {
  readonly code = "VP_STT_COMMAND_FAILED";
  constructor(binary: string, exitCode: number | null, exitSignal: string | null, stderr: string) {
    super(binary, exitCode, exitSignal, stderr, ["the speech recognition program", "model files, grammar"]);
  }
}
