/** Deepgram services (`voicepipe/deepgram`): live speech-to-text over Deepgram's WebSocket API. */
export { DeepgramSTTService, DEEPGRAM_DEFAULT_BASE_URL, type DeepgramSTTOptions } from "./stt.js";
