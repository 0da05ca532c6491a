import { VoicepipeError } from "../errors.js";

/**
 * The errors every kind of service (STT, TTS) meets the same way: a missing API key, a program
 * that is not installed, a program that ended with an error. Each kind keeps its own exported
 * class and `code` (`STTBinaryNotFoundError`, `TTSBinaryNotFoundError`…); the shape and the
 * wording are here once.
 */

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
    /** What the service cannot do without a key ("transcribe", "speak"). @default "work" */
    task = "work",
  ) {
    super(
      `${service}: no API key: set ${envVar} in the environment (or pass the apiKey option); ` +
        `the service cannot ${task} without one`,
    );
  }
}

/**
 * A service's program is not installed (or not where it was said to be). Permanent: the service
 * cannot work until it is installed. The message names the program and how to install it.
 */
export abstract class ProgramNotFoundError extends VoicepipeError {
  constructor(
    /** The program that was run (a name looked up on `PATH`, or a path). */
    readonly binary: string,
    /** How to install it, e.g. "sudo apt-get install espeak-ng". */
    readonly installHint: string,
    /** What the program is, e.g. "the TTS program". */
    program: string,
    cause?: unknown,
  ) {
    super(
      `${program} "${binary}" was not found` +
        (binary.includes("/") ? "" : " on PATH") +
        `. Install it (${installHint}), or give its full path as the "binary" option`,
      { cause },
    );
  }
}

/** A service's program ended with an error (non-zero exit, or a signal we did not send). */
export abstract class ProgramFailedError extends VoicepipeError {
  constructor(
    readonly binary: string,
    /** Exit code, or null when a signal ended it. */
    readonly exitCode: number | null,
    /** The signal that ended it, if any. */
    readonly exitSignal: string | null,
    /** The end of what it wrote to stderr (bounded). */
    readonly stderr: string,
    /** What the program is and which of its options to check, e.g. `["the TTS program", "voice, model"]`. */
    [program, options]: readonly [string, string],
  ) {
    const how =
      exitCode !== null ? `exited with code ${exitCode}` : `was ended by ${exitSignal ?? "a signal"}`;
    const said = stderr.trim() === "" ? "it wrote nothing to stderr" : `it said: ${stderr.trim()}`;
    super(`${program} "${binary}" ${how}; ${said}. Check its options (${options}) by running it by hand`);
  }
}
