/**
 * The audio utility layer: PCM16 helpers, G.711, WAV files, the streaming resampler and input
 * audio filters. Listed name by name. VAD lives in `./vad/` and is exported separately.
 */

export {
  PcmFormatError,
  PCM16_MAX,
  PCM16_MIN,
  DEFAULT_SILENCE_THRESHOLD,
  mixAudio,
  applyGain,
  dbToGain,
  rms,
  dbfs,
  peak,
  isSilence,
  silence,
  interleave,
  deinterleave,
  downmixToMono,
  int16ToFloat32,
  float32ToInt16,
  bytesToInt16,
  int16ToBytes,
} from "./pcm.js";

export {
  linearToUlaw,
  ulawToLinear,
  linearToAlaw,
  alawToLinear,
  encodeUlaw,
  decodeUlaw,
  encodeAlaw,
  decodeAlaw,
} from "./g711.js";

export {
  WavFileNotFoundError,
  NotAWavError,
  UnsupportedWavEncodingError,
  readWav,
  readWavFile,
  writeWav,
  writeWavFile,
} from "./wav.js";
export type { WavAudio } from "./wav.js";

export {
  InvalidSampleRateError,
  ResamplerDisposedError,
  MIN_SAMPLE_RATE,
  MAX_SAMPLE_RATE,
  DEFAULT_RESAMPLER_QUALITY,
  RESAMPLER_MAX_EXTRA_FRAMES,
  createStreamResampler,
  resampleOnce,
} from "./resampler.js";
export type { StreamResampler, StreamResamplerOptions } from "./resampler.js";
export { ResamplerError } from "./speex-wasm.js";

export { AudioFilterNotStartedError } from "./filters/audio-filter.js";
export type { AudioFilter } from "./filters/audio-filter.js";
export { RNNoiseFilter } from "./filters/rnnoise-filter.js";
export type { RNNoiseFilterOptions } from "./filters/rnnoise-filter.js";
export { RNNoiseError } from "./filters/rnnoise-wasm.js";
