/**
 * Voice activity detection without a model runtime: the analyzer base, its parameters, state
 * machine and volume meter, and the VAD errors. The Silero analyzer (which needs
 * `onnxruntime-web` by default) is in `./silero.ts` (`voicepipe/audio/vad/silero`).
 */
export {
  VADAnalyzer,
  type VADAnalyzerOptions,
  type VADAnalysis,
  type VADTransition,
} from "./vad-analyzer.js";
export { type VADParams, DEFAULT_VAD_PARAMS, resolveVADParams } from "./vad-params.js";
export { VADState } from "./vad-state.js";
export { VADStateMachine, type VADStep } from "./vad-state-machine.js";
export { VolumeMeter, windowVolume } from "./volume-meter.js";
export { VADSampleRateError, VADInputError, VADAnalysisError, VADModelLoadError } from "./vad-errors.js";
