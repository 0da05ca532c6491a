import { VoicepipeError } from "../../../errors.js";

/**
 * The Smart Turn model (or the runtime that runs it) could not be loaded: a missing or unreadable
 * file, a file that is not a model, a model without Smart Turn's input, a missing runtime
 * package, or a load past its deadline. The message names the path and what to do; `cause` holds
 * the underlying error.
 */
export class SmartTurnModelLoadError extends VoicepipeError {
  readonly code = "VP_SMART_TURN_MODEL_LOAD";
}

/**
 * One analysis failed (the model run failed, its output was not a probability, or the inference
 * worker died or missed its deadline). The analyzer stays usable: the next analysis tries again.
 */
export class SmartTurnAnalysisError extends VoicepipeError {
  readonly code = "VP_SMART_TURN_ANALYSIS";
}

/** Audio or a call the analyzer cannot take as given (not PCM16, or no audio to analyse). */
export class SmartTurnInputError extends VoicepipeError {
  readonly code = "VP_SMART_TURN_INPUT";
}
