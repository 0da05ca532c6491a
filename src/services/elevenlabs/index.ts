export {
  ELEVENLABS_DEFAULT_BASE_URL,
  ELEVENLABS_DEFAULT_VOICE,
  ELEVENLABS_SAMPLE_RATES,
  ElevenLabsTTSService,
  type ElevenLabsTTSOptions,
  type ElevenLabsTTSStats,
  type ElevenLabsVoiceSettings,
} from "./tts.js";
