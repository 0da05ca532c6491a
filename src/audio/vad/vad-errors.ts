import { VoicepipeError } from "../../errors.js";

/** A VAD analyzer was given a sample rate its model cannot run at. */
export class VADSampleRateError extends VoicepipeError {
  readonly code = "VP_VAD_SAMPLE_RATE";
  constructor(
    readonly analyzer: string,
    readonly sampleRate: number,
    readonly supported: readonly number[],
  ) {
    super(
      `${analyzer} cannot analyse ${sampleRate} Hz audio; it supports ${supported.join(" or ")} Hz. ` +
        "Resample the input first (e.g. set the transport's audioInSampleRate to 16000).",
    );
  }
}

/**
 * Audio a VAD cannot take as given: not an `Int16Array`, no sample rate set yet, a sample rate
 * that changed mid-stream, or overlapping `analyze` calls on one stream.
 */
export class VADInputError extends VoicepipeError {
  readonly code = "VP_VAD_INPUT";
}

/**
 * The VAD model (or the runtime that runs it) could not be loaded. The message names the path
 * that was tried and how to fix it; `cause` holds the underlying error.
 */
export class VADModelLoadError extends VoicepipeError {
  readonly code = "VP_VAD_MODEL_LOAD";
}

/** The VAD model failed while analysing audio (`cause` holds its error). The stream stays usable. */
export class VADAnalysisError extends VoicepipeError {
  readonly code = "VP_VAD_ANALYSIS";
}
