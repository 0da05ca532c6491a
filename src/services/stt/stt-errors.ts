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

/**
 * The speech recogniser's program is not installed (or not where it was said to be). Permanent:
 * the service cannot transcribe until it is installed. The message names the program and how to
 * install it.
 */
export class STTBinaryNotFoundError extends VoicepipeError {
  readonly code = "VP_STT_BINARY_NOT_FOUND";
  readonly retryable = false;
  constructor(
    /** The program that was run (a name looked up on `PATH`, or a path). */
    readonly binary: string,
    /** How to install it, e.g. "sudo apt-get install pocketsphinx pocketsphinx-en-us". */
    readonly installHint: string,
    cause?: unknown,
  ) {
    super(
      `the speech recognition program "${binary}" was not found` +
        (binary.includes("/") ? "" : " on PATH") +
        `. Install it (${installHint}), or give its full path as the "binary" option`,
      { cause },
    );
  }
}

/** The speech recogniser's program ended with an error (non-zero exit, or a signal we did not send). */
export class STTCommandFailedError extends VoicepipeError {
  readonly code = "VP_STT_COMMAND_FAILED";
  constructor(
    readonly binary: string,
    /** Exit code, or null when a signal ended it. */
    readonly exitCode: number | null,
    /** The signal that ended it, if any. */
    readonly exitSignal: string | null,
    /** The end of what it wrote to stderr (bounded). */
    readonly stderr: string,
  ) {
    const how =
      exitCode !== null ? `exited with code ${exitCode}` : `was ended by ${exitSignal ?? "a signal"}`;
    const said = stderr.trim() === "" ? "it wrote nothing to stderr" : `it said: ${stderr.trim()}`;
    super(
      `the speech recognition program "${binary}" ${how}; ${said}. Check its options (model files, grammar) by running it by hand`,
    );
  }
}
