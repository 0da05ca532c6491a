/**
 * PCM16 helpers: mixing, gain, levels, silence detection, channel layout, format conversion and
 * byte views. voicepipe audio is always interleaved signed 16-bit PCM in an `Int16Array`.
 *
 * Every function here is plain typed-array code: it allocates its output (if any) once and never
 * inside the sample loop. Inputs are never modified.
 */
import { VoicepipeError } from "../errors.js";

/** PCM data had an impossible shape (odd byte count, length not a multiple of the channel count…). */
export class PcmFormatError extends VoicepipeError {
  readonly code = "VP_PCM_FORMAT";
}

/** Largest PCM16 sample value. */
export const PCM16_MAX = 32767;
/** Smallest PCM16 sample value. */
export const PCM16_MIN = -32768;

/**
 * Pipecat's default silence threshold for {@link isSilence}: a chunk whose peak absolute sample is at
 * most 20 (about −64 dBFS) is silence.
 */
export const DEFAULT_SILENCE_THRESHOLD = 20;

function clip16(value: number): number {
  return value > PCM16_MAX ? PCM16_MAX : value < PCM16_MIN ? PCM16_MIN : value;
}

/**
 * Mixes two PCM16 buffers sample by sample, clipping the sum to the PCM16 range.
 *
 * The buffers must have the same channel layout; the shorter one is treated as padded with silence,
 * so the result is as long as the longer one. `gainB` scales `b` before mixing (for a background
 * sound at a lower volume); the product is rounded to the nearest integer.
 *
 * @param a - First buffer (e.g. speech).
 * @param b - Second buffer (e.g. background sound).
 * @param gainB - Linear gain applied to `b`, ≥ 0. @default 1
 * @returns A new buffer of length `max(a.length, b.length)`.
 * @example
 * const out = mixAudio(ttsChunk, backgroundChunk, 0.4);
 */
export function mixAudio(a: Int16Array, b: Int16Array, gainB = 1): Int16Array {
  if (!(gainB >= 0) || !Number.isFinite(gainB)) {
    throw new PcmFormatError(`mixAudio: gainB must be a finite number ≥ 0 (got ${gainB})`);
  }
  const out = new Int16Array(Math.max(a.length, b.length));
  const common = Math.min(a.length, b.length);
  if (gainB === 1) {
    for (let i = 0; i < common; i++) out[i] = clip16(a[i]! + b[i]!);
  } else {
    for (let i = 0; i < common; i++) out[i] = clip16(a[i]! + Math.round(b[i]! * gainB));
  }
  if (a.length > common) {
    out.set(a.subarray(common), common);
  } else if (gainB === 1) {
    out.set(b.subarray(common), common);
  } else {
    for (let i = common; i < b.length; i++) out[i] = clip16(Math.round(b[i]! * gainB));
  }
  return out;
}

/**
 * Multiplies every sample by `gain`, rounding to the nearest integer and clipping to the PCM16 range.
 *
 * @param audio - PCM16 samples (any channel layout).
 * @param gain - Linear gain, ≥ 0 (1 = unchanged, 0.5 ≈ −6 dB, 2 ≈ +6 dB).
 * @returns A new buffer of the same length.
 */
export function applyGain(audio: Int16Array, gain: number): Int16Array {
  if (!(gain >= 0) || !Number.isFinite(gain)) {
    throw new PcmFormatError(`applyGain: gain must be a finite number ≥ 0 (got ${gain})`);
  }
  const out = new Int16Array(audio.length);
  for (let i = 0; i < audio.length; i++) out[i] = clip16(Math.round(audio[i]! * gain));
  return out;
}

/** Converts a gain in dB to a linear factor: `10^(dB/20)`. */
export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

/**
 * Root-mean-square level of the samples, in PCM16 units (0 … 32768). An empty buffer has level 0.
 * All channels are pooled.
 */
export function rms(audio: Int16Array): number {
  if (audio.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < audio.length; i++) {
    const s = audio[i]!;
    sum += s * s;
  }
  return Math.sqrt(sum / audio.length);
}

/**
 * RMS level relative to full scale, in dB: `20·log10(rms / 32768)`. A full-scale square wave is
 * 0 dBFS, a full-scale sine about −3 dBFS; digital silence (or an empty buffer) is `-Infinity`.
 */
export function dbfs(audio: Int16Array): number {
  const level = rms(audio);
  return level === 0 ? -Infinity : 20 * Math.log10(level / 32768);
}

/** Largest absolute sample value (0 … 32768). An empty buffer has peak 0. */
export function peak(audio: Int16Array): number {
  let max = 0;
  for (let i = 0; i < audio.length; i++) {
    const s = audio[i]!;
    const abs = s < 0 ? -s : s;
    if (abs > max) max = abs;
  }
  return max;
}

/**
 * Whether the chunk is silence: its peak absolute sample is at most `threshold`.
 * Peak-based like Pipecat's check, so one loud click makes a chunk non-silent.
 * An empty chunk is silence.
 *
 * @param threshold - Largest peak that still counts as silence, in PCM16 units. @default 20
 */
export function isSilence(audio: Int16Array, threshold = DEFAULT_SILENCE_THRESHOLD): boolean {
  for (let i = 0; i < audio.length; i++) {
    const s = audio[i]!;
    if (s > threshold || s < -threshold) return false;
  }
  return true;
}

/**
 * A buffer of digital silence.
 *
 * @param numSamples - Total samples (for interleaved audio: frames × channels).
 */
export function silence(numSamples: number): Int16Array {
  if (!Number.isInteger(numSamples) || numSamples < 0) {
    throw new PcmFormatError(`silence: numSamples must be an integer ≥ 0 (got ${numSamples})`);
  }
  return new Int16Array(numSamples);
}

/**
 * Interleaves per-channel buffers (`[L0 L1 …]`, `[R0 R1 …]`) into one buffer (`L0 R0 L1 R1 …`).
 * All channels must have the same length.
 *
 * @example
 * const stereo = interleave([left, right]);
 */
export function interleave(channels: readonly Int16Array[]): Int16Array {
  const numChannels = channels.length;
  if (numChannels === 0) throw new PcmFormatError("interleave: give at least one channel");
  const frames = channels[0]!.length;
  for (const [index, channel] of channels.entries()) {
    if (channel.length !== frames) {
      throw new PcmFormatError(
        `interleave: every channel must have the same length (channel 0 has ${frames} samples, channel ${index} has ${channel.length})`,
      );
    }
  }
  if (numChannels === 1) return channels[0]!.slice();
  const out = new Int16Array(frames * numChannels);
  for (let c = 0; c < numChannels; c++) {
    const channel = channels[c]!;
    for (let i = 0, j = c; i < frames; i++, j += numChannels) out[j] = channel[i]!;
  }
  return out;
}

/**
 * Splits interleaved audio into one buffer per channel (the inverse of {@link interleave}).
 *
 * @param numChannels - Interleaved channel count; `audio.length` must be a multiple of it.
 */
export function deinterleave(audio: Int16Array, numChannels: number): Int16Array[] {
  checkLayout("deinterleave", audio, numChannels);
  const frames = audio.length / numChannels;
  const out: Int16Array[] = [];
  for (let c = 0; c < numChannels; c++) {
    const channel = new Int16Array(frames);
    for (let i = 0, j = c; i < frames; i++, j += numChannels) channel[i] = audio[j]!;
    out.push(channel);
  }
  return out;
}

/**
 * Averages interleaved channels into mono (rounded to the nearest integer). Mono input is copied.
 *
 * @param numChannels - Interleaved channel count; `audio.length` must be a multiple of it.
 */
export function downmixToMono(audio: Int16Array, numChannels: number): Int16Array {
  checkLayout("downmixToMono", audio, numChannels);
  if (numChannels === 1) return audio.slice();
  const frames = audio.length / numChannels;
  const out = new Int16Array(frames);
  for (let i = 0, j = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < numChannels; c++, j++) sum += audio[j]!;
    out[i] = Math.round(sum / numChannels);
  }
  return out;
}

/**
 * Converts interleaved audio from `inChannels` to `outChannels`, frame by frame (the frame count
 * never changes):
 * - same count: `audio` itself is returned (no copy);
 * - fewer channels (fold down): output channel `c` is the rounded average of input channels
 *   `c, c + out, c + 2·out, …` — so to mono, the average of all channels ({@link downmixToMono});
 * - more channels (spread): output channel `c` is input channel `c mod in` — so mono is copied to
 *   every channel.
 *
 * @returns A new buffer of `frames × outChannels` samples (or `audio` when the counts match).
 * @example
 * const mono = convertChannels(stereo, 2, 1);
 */
export function convertChannels(audio: Int16Array, inChannels: number, outChannels: number): Int16Array {
  checkLayout("convertChannels", audio, inChannels);
  if (!Number.isInteger(outChannels) || outChannels < 1) {
    throw new PcmFormatError(`convertChannels: outChannels must be a positive integer (got ${outChannels})`);
  }
  if (inChannels === outChannels) return audio;
  if (outChannels === 1) return downmixToMono(audio, inChannels);
  const frames = audio.length / inChannels;
  const out = new Int16Array(frames * outChannels);
  if (inChannels < outChannels) {
    for (let f = 0, i = 0, o = 0; f < frames; f++, i += inChannels) {
      for (let c = 0; c < outChannels; c++, o++) out[o] = audio[i + (c % inChannels)]!;
    }
    return out;
  }
  // Fold: input channel k goes into output channel k mod out; each output averages what it got.
  const counts = new Array<number>(outChannels).fill(0);
  for (let k = 0; k < inChannels; k++) counts[k % outChannels]!++;
  const sums = new Array<number>(outChannels);
  for (let f = 0, i = 0, o = 0; f < frames; f++, i += inChannels, o += outChannels) {
    sums.fill(0);
    for (let k = 0; k < inChannels; k++) sums[k % outChannels]! += audio[i + k]!;
    for (let c = 0; c < outChannels; c++) out[o + c] = Math.round(sums[c]! / counts[c]!);
  }
  return out;
}

/**
 * Converts PCM16 to float samples in [-1, 1): `sample / 32768`. Exact, and undone exactly by
 * {@link float32ToInt16}.
 *
 * @param out - Optional destination of the same length (to reuse a buffer).
 */
export function int16ToFloat32(audio: Int16Array, out = new Float32Array(audio.length)): Float32Array {
  if (out.length !== audio.length) {
    throw new PcmFormatError(`int16ToFloat32: out has ${out.length} samples, audio has ${audio.length}`);
  }
  for (let i = 0; i < audio.length; i++) out[i] = audio[i]! / 32768;
  return out;
}

/**
 * Converts float samples in [-1, 1] to PCM16: `round(x × 32768)`, clipped to [-32768, 32767]
 * (so 1.0 becomes 32767). Values outside [-1, 1] are clipped; NaN becomes 0.
 *
 * @param out - Optional destination of the same length (to reuse a buffer).
 */
export function float32ToInt16(
  audio: Float32Array | Float64Array,
  out = new Int16Array(audio.length),
): Int16Array {
  if (out.length !== audio.length) {
    throw new PcmFormatError(`float32ToInt16: out has ${out.length} samples, audio has ${audio.length}`);
  }
  for (let i = 0; i < audio.length; i++) {
    const v = Math.round(audio[i]! * 32768);
    // NaN fails both comparisons and lands in the last branch; `| 0` turns it into 0.
    out[i] = v >= PCM16_MAX ? PCM16_MAX : v <= PCM16_MIN ? PCM16_MIN : v | 0;
  }
  return out;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Reads little-endian PCM16 bytes (WAV data, a WebSocket message, a `Buffer`) as samples.
 *
 * Returns a view over the same memory when possible (little-endian host and an even `byteOffset`),
 * so writes to one show in the other; otherwise a copy. Copy with `.slice()` if you keep the result
 * beyond the life of a pooled `Buffer`.
 *
 * @param bytes - An even number of bytes.
 */
export function bytesToInt16(bytes: Uint8Array): Int16Array {
  if (bytes.byteLength % 2 !== 0) {
    throw new PcmFormatError(
      `bytesToInt16: PCM16 needs an even number of bytes (got ${bytes.byteLength}); a chunk boundary may have split a sample`,
    );
  }
  const length = bytes.byteLength / 2;
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % 2 === 0) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, length);
  }
  const out = new Int16Array(length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/**
 * The little-endian bytes of PCM16 samples (for WAV data or the wire). A view over the same memory
 * on a little-endian host (every platform Node supports in practice), otherwise a copy.
 */
export function int16ToBytes(audio: Int16Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(audio.buffer, audio.byteOffset, audio.byteLength);
  const out = new Uint8Array(audio.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < audio.length; i++) view.setInt16(i * 2, audio[i]!, true);
  return out;
}

/** Throws unless `numChannels` is a positive integer that divides `audio.length`. */
export function checkLayout(owner: string, audio: Int16Array, numChannels: number): void {
  if (!Number.isInteger(numChannels) || numChannels < 1) {
    throw new PcmFormatError(`${owner}: numChannels must be a positive integer (got ${numChannels})`);
  }
  if (audio.length % numChannels !== 0) {
    throw new PcmFormatError(
      `${owner}: ${audio.length} samples is not a whole number of ${numChannels}-channel frames; pass whole frames`,
    );
  }
}
