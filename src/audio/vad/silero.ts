/**
 * Silero VAD for voicepipe, published as `voicepipe/audio/vad/silero`. A separate entry point
 * because it needs the optional peer dependency `onnxruntime-web` (the model file ships with
 * voicepipe); the core package never imports it.
 */
export { SileroVADAnalyzer, type SileroVADAnalyzerOptions } from "./silero-vad-analyzer.js";
export {
  loadSileroSession,
  sileroSessionStats,
  releaseSileroSessions,
  type SileroSession,
  type OnnxRuntime,
} from "./silero-session.js";
export { defaultSileroModelPath } from "./silero-model.js";
export { VADModelLoadError } from "./vad-errors.js";
export { SileroWorker } from "./silero-worker.js";
