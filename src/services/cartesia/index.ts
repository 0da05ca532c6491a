export {
  CARTESIA_DEFAULT_BASE_URL,
  CARTESIA_DEFAULT_VERSION,
  CARTESIA_DEFAULT_VOICE,
  CARTESIA_SAMPLE_RATES,
  CartesiaTTSService,
  type CartesiaTTSOptions,
  type CartesiaTTSStats,
} from "./tts.js";
