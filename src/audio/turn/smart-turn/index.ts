/**
 * Smart Turn v3 for voicepipe, published as `voicepipe/audio/turn/smart-turn`. A separate entry
 * point because it needs an ONNX runtime, an optional peer dependency (`onnxruntime-web` by
 * default), and a model file the user provides (docs/design/smart-turn.md).
 */
export { SmartTurnAnalyzer, SMART_TURN_INPUT, type SmartTurnAnalyzerOptions } from "./smart-turn-analyzer.js";
export { SmartTurnAnalysisError, SmartTurnInputError, SmartTurnModelLoadError } from "./smart-turn-errors.js";
export { SmartTurnWorker } from "./smart-turn-worker.js";
export {
  WhisperFeatureExtractor,
  SMART_TURN_SAMPLES,
  SMART_TURN_FRAMES,
  WHISPER_N_MELS,
  WHISPER_SAMPLE_RATE,
} from "./whisper-features.js";
export type { TurnAnalyzer, TurnVerdict } from "../turn-analyzer.js";
