/**
 * OpenAI's audio endpoints over raw HTTP (no SDK): speech (TTS) and transcription (segmented STT).
 * See docs/design/tts-services.md and docs/design/stt-services.md. Re-exported by the
 * `voicepipe/openai` subpath.
 */
export { OpenAITTSService, type OpenAITTSServiceOptions, OPENAI_TTS_SAMPLE_RATE } from "./tts.js";
export { OpenAISTTService, type OpenAISTTServiceOptions } from "./stt.js";
export { OpenAIAudioError, type OpenAIAudioFailure } from "./openai-audio-error.js";
export { OPENAI_DEFAULT_BASE_URL, type OpenAIEndpointOptions } from "./openai-endpoint.js";
