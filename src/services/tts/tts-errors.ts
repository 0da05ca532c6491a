import { VoicepipeError } from "../../errors.js";

/**
 * The TTS engine's program is not installed (or not where it was said to be). Permanent: the
 * service cannot speak until it is installed. The message names the program and how to install it.
 */
export class TTSBinaryNotFoundError extends VoicepipeError {
  readonly code = "VP_TTS_BINARY_NOT_FOUND";
  constructor(
    /** The program that was run (a name looked up on `PATH`, or a path). */
    readonly binary: string,
    /** How to install it, e.g. "sudo apt-get install espeak-ng". */
    readonly installHint: string,
    cause?: unknown,
  ) {
    super(
      `the TTS program "${binary}" was not found` +
        (binary.includes("/") ? "" : " on PATH") +
        `. Install it (${installHint}), or give its full path as the "binary" option`,
      { cause },
    );
  }
}

/** A file the TTS engine needs (a voice model, its config) is missing or unreadable. Permanent. */
export class TTSModelNotFoundError extends VoicepipeError {
  readonly code = "VP_TTS_MODEL_NOT_FOUND";
  constructor(
    /** The option that named the file, e.g. "model". */
    readonly option: string,
    readonly path: string,
    what: string,
    cause?: unknown,
  ) {
    super(`${option}: ${what} (${path})`, { cause });
  }
}

/** The TTS program ended with an error (non-zero exit or a signal it was not sent by us). */
export class TTSCommandFailedError extends VoicepipeError {
  readonly code = "VP_TTS_COMMAND_FAILED";
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
      `the TTS program "${binary}" ${how}; ${said}. Check its options (voice, model) by running it by hand`,
    );
  }
}

/** The TTS engine's output was not what it was declared to be (not a PCM16 WAV, another rate). */
export class TTSOutputError extends VoicepipeError {
  readonly code = "VP_TTS_OUTPUT";
}

/**
 * The engine gave no audio for too long (`stallTimeoutMs`) or a piece took longer than
 * `synthesisTimeoutMs`: the synthesis was abandoned (a subprocess is killed). Not permanent: the
 * next piece is tried.
 */
export class TTSTimeoutError extends VoicepipeError {
  readonly code = "VP_TTS_TIMEOUT";
  constructor(
    /** The option whose bound was reached. */
    readonly option: "stallTimeoutMs" | "synthesisTimeoutMs",
    readonly timeoutMs: number,
    message: string,
  ) {
    super(message);
  }
}
