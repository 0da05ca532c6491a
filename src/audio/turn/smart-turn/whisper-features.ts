import { setImmediate as nextTurn } from "node:timers/promises";
import { melFilterBank, type MelBand } from "./mel-filter-bank.js";
import { PowerSpectrum } from "./power-spectrum.js";

/**
 * Whisper-style log-mel features, as Smart Turn v3 was trained on them
 * (docs/design/smart-turn.md says where each step was checked): Hugging Face's
 * `WhisperFeatureExtractor(chunk_length=8)` called with `do_normalize=True` on exactly 8 s of
 * 16 kHz audio. In order:
 *
 * 1. the waveform (PCM16 / 32768) is normalised to zero mean and unit variance over all 8 s
 *    (padding included): `(x − mean) / sqrt(var + 1e-7)`;
 * 2. a centred STFT: frames of 400 samples (25 ms) every 160 (10 ms), the signal reflect-padded
 *    by 200 at each end, a periodic Hann window; power `|X|²` of bins 0 … 200;
 * 3. an 80-band Slaney mel bank from 0 to 8 kHz ({@link melFilterBank});
 * 4. `log10(max(1e-10, mel))`; the last of the 801 frames dropped (800 remain);
 * 5. every value raised to at least `max − 8` (a dynamic range of 80 dB), then `(x + 4) / 4`.
 *
 * The output is laid out as the model's `input_features` tensor `[1, 80, 800]`: band `m`, frame
 * `t` at `m · 800 + t`.
 */
export const WHISPER_SAMPLE_RATE = 16_000;
/** Samples per STFT frame (25 ms). */
export const WHISPER_N_FFT = 400;
/** Samples between frames (10 ms). */
export const WHISPER_HOP = 160;
/** Mel bands. */
export const WHISPER_N_MELS = 80;
/** Audio the model sees: 8 s. */
export const SMART_TURN_SAMPLES = 8 * WHISPER_SAMPLE_RATE;
/** Frames of 8 s of audio. */
export const SMART_TURN_FRAMES = SMART_TURN_SAMPLES / WHISPER_HOP;
/** The floor of the mel power before the log (Whisper's). */
const MEL_FLOOR = 1e-10;
/** Added to the variance in the waveform normalisation (Hugging Face's). */
const NORMALISE_EPSILON = 1e-7;
/** Frames computed between two event-loop turns by {@link WhisperFeatureExtractor.extractAsync}. */
const FRAMES_PER_TURN = 100;

/** Options of {@link WhisperFeatureExtractor.extractAsync}. */
export interface ExtractOptions {
  /** Stops the extraction between slices of frames; it rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Computes Smart Turn's `input_features` from exactly {@link SMART_TURN_SAMPLES} samples. One
 * instance holds its scratch buffers (about 0.5 MB with the output), so an analyzer reuses one;
 * it is not re-entrant (one extraction at a time per instance).
 */
export class WhisperFeatureExtractor {
  readonly #spectrum = new PowerSpectrum(WHISPER_N_FFT);
  readonly #bands: readonly MelBand[] = melFilterBank(WHISPER_N_MELS, WHISPER_N_FFT, WHISPER_SAMPLE_RATE);
  readonly #window = hannWindow(WHISPER_N_FFT);
  readonly #signal = new Float64Array(SMART_TURN_SAMPLES);
  readonly #frameA = new Float64Array(WHISPER_N_FFT);
  readonly #frameB = new Float64Array(WHISPER_N_FFT);
  readonly #powerA = new Float64Array(WHISPER_N_FFT / 2 + 1);
  readonly #powerB = new Float64Array(WHISPER_N_FFT / 2 + 1);
  #busy = false;

  /** Whether an extraction is under way (an instance does one at a time). */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * The features of `audio` (PCM16, exactly 8 s at 16 kHz: pad or cut first), in one go. Blocks
   * the event loop for the whole computation (`bench/smart-turn.ts` says how long): for tools and
   * tests; an analyzer uses {@link extractAsync}.
   */
  extract(audio: Int16Array, out = new Float32Array(WHISPER_N_MELS * SMART_TURN_FRAMES)): Float32Array {
    this.#begin(audio, out);
    try {
      this.#frames(0, SMART_TURN_FRAMES, out);
      finish(out);
      return out;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * As {@link extract}, but yields an event-loop turn after every 100 frames (1 s of audio), so
   * timers and I/O of other sessions run while a turn is analysed; stops at the next turn
   * with `signal.reason` once `signal` aborts.
   */
  async extractAsync(
    audio: Int16Array,
    options: ExtractOptions = {},
    out = new Float32Array(WHISPER_N_MELS * SMART_TURN_FRAMES),
  ): Promise<Float32Array> {
    const { signal } = options;
    signal?.throwIfAborted();
    this.#begin(audio, out);
    try {
      for (let t = 0; t < SMART_TURN_FRAMES; t += FRAMES_PER_TURN) {
        this.#frames(t, Math.min(SMART_TURN_FRAMES, t + FRAMES_PER_TURN), out);
        await nextTurn();
        signal?.throwIfAborted();
      }
      finish(out);
      return out;
    } finally {
      this.#busy = false;
    }
  }

  #begin(audio: Int16Array, out: Float32Array): void {
    if (this.#busy) throw new Error("WhisperFeatureExtractor: one extraction at a time per instance");
    if (!(audio instanceof Int16Array) || audio.length !== SMART_TURN_SAMPLES) {
      throw new RangeError(
        `WhisperFeatureExtractor: audio must be an Int16Array of exactly ${SMART_TURN_SAMPLES} samples ` +
          `(8 s at 16 kHz; pad the start with zeros or keep the last 8 s); got ${describeAudio(audio)}`,
      );
    }
    if (out.length !== WHISPER_N_MELS * SMART_TURN_FRAMES) {
      throw new RangeError(
        `WhisperFeatureExtractor: out must hold ${WHISPER_N_MELS * SMART_TURN_FRAMES} values`,
      );
    }
    this.#busy = true;
    normalise(audio, this.#signal);
  }

  /** Frames `[from, to)`, two per transform. */
  #frames(from: number, to: number, out: Float32Array): void {
    for (let t = from; t < to; t += 2) {
      const pair = t + 1 < to;
      this.#frame(t, this.#frameA);
      if (pair) this.#frame(t + 1, this.#frameB);
      this.#spectrum.compute(this.#frameA, this.#powerA, pair ? this.#frameB : undefined, this.#powerB);
      this.#mel(this.#powerA, t, out);
      if (pair) this.#mel(this.#powerB, t + 1, out);
    }
  }

  /** Frame `t`, centred on sample `t · 160`, reflect-padded at the ends, windowed. */
  #frame(t: number, into: Float64Array): void {
    const x = this.#signal;
    const last = x.length - 1;
    const start = t * WHISPER_HOP - WHISPER_N_FFT / 2;
    const window = this.#window;
    for (let j = 0; j < WHISPER_N_FFT; j++) {
      let i = start + j;
      if (i < 0) i = -i;
      else if (i > last) i = 2 * last - i;
      into[j] = x[i]! * window[j]!;
    }
  }

  /** The log10 mel energies of one frame's power spectrum, written to column `t`. */
  #mel(power: Float64Array, t: number, out: Float32Array): void {
    const bands = this.#bands;
    for (let m = 0; m < bands.length; m++) {
      const { firstBin, weights } = bands[m]!;
      let sum = 0;
      for (let j = 0; j < weights.length; j++) sum += weights[j]! * power[firstBin + j]!;
      out[m * SMART_TURN_FRAMES + t] = Math.log10(Math.max(MEL_FLOOR, sum));
    }
  }
}

/** The periodic Hann window of `n` points (`torch.hann_window`'s default, numpy's `hanning(n + 1)[:-1]`). */
export function hannWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let j = 0; j < n; j++) w[j] = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n);
  return w;
}

/** PCM16 → float (÷ 32768), then zero mean and unit variance over the whole window. */
function normalise(audio: Int16Array, into: Float64Array): void {
  let sum = 0;
  for (let i = 0; i < audio.length; i++) sum += audio[i]!;
  const mean = sum / audio.length / 32768;
  let squares = 0;
  for (let i = 0; i < audio.length; i++) {
    const d = audio[i]! / 32768 - mean;
    squares += d * d;
  }
  const scale = 1 / Math.sqrt(squares / audio.length + NORMALISE_EPSILON);
  for (let i = 0; i < audio.length; i++) into[i] = (audio[i]! / 32768 - mean) * scale;
}

/** Whisper's dynamic-range clamp and rescale, over the whole window. */
function finish(out: Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < out.length; i++) if (out[i]! > max) max = out[i]!;
  const floor = max - 8;
  for (let i = 0; i < out.length; i++) out[i] = (Math.max(out[i]!, floor) + 4) / 4;
}

function describeAudio(audio: unknown): string {
  if (audio instanceof Int16Array) return `${audio.length} samples`;
  return (audio as object | null | undefined)?.constructor?.name ?? String(audio);
}
