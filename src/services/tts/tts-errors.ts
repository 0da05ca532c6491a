import { VoicepipeError } from "../../errors.js";
import { ProgramFailedError, ProgramNotFoundError } from "../service-errors.js";

/**
 * The TTS engine's program is not installed (or not where it was said to be). Permanent: the
 * service cannot speak until it is installed. The message names the program and how to install it.
 */
export class TTSBinaryNotFoundError extends ProgramNotFoundError {
  readonly code = "VP_TTS_BINARY_NOT_FOUND";
  /**
   * @param binary the program that was run (a name looked up on `PATH`, or a path).
   * @param installHint how to install it, e.g. "sudo apt-get install espeak-ng".
   */
  constructor(binary: string, installHint: string, cause?: unknown) {
    super(binary, installHint, "the TTS program", cause);
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
export class TTSCommandFailedError extends ProgramFailedError {
  readonly code = "VP_TTS_COMMAND_FAILED";
  constructor(binary: string, exitCode: number | null, exitSignal: string | null, stderr: string) {
    super(binary, exitCode, exitSignal, stderr, ["the TTS program", "voice, model"]);
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

/**
 * A piece waited `stallTimeoutMs` for the connection to the TTS provider to reopen (the socket was
 * reconnecting) and was abandoned before it could be sent: the provider's synthesis was never
 * asked, so this is not a stall of the provider's (docs/design/tts-services.md, "Stalls and
 * reconnects"). Not permanent: the socket keeps reconnecting and the next piece is tried.
 */
export class TTSConnectionWaitError extends VoicepipeError {
  readonly code = "VP_TTS_CONNECTION_WAIT";
  readonly option = "stallTimeoutMs";
  constructor(
    /** The bound that ran out, in ms. */
    readonly timeoutMs: number,
    /** How long the piece waited for the connection, in ms. */
    readonly waitedMs: number,
    message: string,
  ) {
    super(message);
  }
}
