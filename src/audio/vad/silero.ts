/**
 * Silero VAD for voicepipe, published as `voicepipe/audio/vad/silero`. A separate entry point
 * because it needs an ONNX runtime, an optional peer dependency (`onnxruntime-web` by default;
 * the model file ships with voicepipe); the core package never imports one.
 */
export {
  SileroVADAnalyzer,
  type SileroVADAnalyzerOptions,
  type SileroInference,
} from "./silero-vad-analyzer.js";
export {
  loadSileroSession,
  sileroSessionStats,
  releaseSileroSessions,
  type SileroSession,
  type OnnxRuntime,
} from "./silero-session.js";
export { defaultSileroModelPath } from "./silero-model.js";
export { type SileroRuntime, DEFAULT_SILERO_RUNTIME } from "./silero-runtime.js";
export { VADModelLoadError } from "./vad-errors.js";
export { SileroWorker } from "./silero-worker.js";
