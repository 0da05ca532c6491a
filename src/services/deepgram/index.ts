/** Deepgram services (`voicepipe/deepgram`): live speech-to-text and text-to-speech over Deepgram's WebSocket APIs. */
export { DeepgramSTTService, DEEPGRAM_DEFAULT_BASE_URL, type DeepgramSTTOptions } from "./stt.js";
export {
  DeepgramTTSService,
  type DeepgramTTSOptions,
  type DeepgramTTSStats,
  DeepgramTTSError,
} from "./tts.js";
