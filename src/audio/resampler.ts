/**
 * Sample-rate conversion for PCM16: a streaming resampler with state per stream (for transports and
 * services) and a one-shot helper (for files). Built on the SpeexDSP resampler compiled to
 * WebAssembly; the module is loaded once per process and shared, each stream owns its own filter
 * state and buffers.
 */
import { InvalidOptionError, VoicepipeError } from "../errors.js";
import { checkLayout } from "./pcm.js";
import { SpeexState, loadSpeexModule } from "./speex-wasm.js";

/** A sample rate was not an integer number of Hz within the supported range. */
export class InvalidSampleRateError extends VoicepipeError {
  readonly code = "VP_INVALID_SAMPLE_RATE";
  constructor(
    readonly option: string,
    readonly value: unknown,
  ) {
    super(
      `${option} must be an integer sample rate in Hz between ${MIN_SAMPLE_RATE} and ${MAX_SAMPLE_RATE} ` +
        `(got ${String(value)}); common rates are 8000, 16000, 24000, 44100 and 48000`,
    );
  }
}

/** A resampler was used after `dispose()`. */
export class ResamplerDisposedError extends VoicepipeError {
  readonly code = "VP_RESAMPLER_DISPOSED";
  constructor(
    readonly inRate: number,
    readonly outRate: number,
  ) {
    super(
      `the ${inRate} Hz → ${outRate} Hz resampler was disposed; create a new one with createStreamResampler()`,
    );
  }
}

/** Lowest accepted sample rate, in Hz. */
export const MIN_SAMPLE_RATE = 1000;
/** Highest accepted sample rate, in Hz. */
export const MAX_SAMPLE_RATE = 768_000;
/**
 * Default SpeexDSP quality (0 … 10). Transparent at 16 bits (a 1 kHz sine round trip 16k→48k→16k
 * keeps about 100 dB SNR, the quantisation limit), 700–2000× real time in 20 ms chunks, and 3 ms of
 * filter delay at 16 kHz. See `bench/resampler.ts`.
 */
export const DEFAULT_RESAMPLER_QUALITY = 6;
/**
 * Documented slack on output size: one `resample()` call returns at most
 * `ceil(inputFrames × outRate / inRate) + RESAMPLER_MAX_EXTRA_FRAMES` frames.
 */
export const RESAMPLER_MAX_EXTRA_FRAMES = 1;

/** Options for {@link createStreamResampler}. */
export interface StreamResamplerOptions {
  /** Input sample rate, in Hz (integer, 1000 … 768000). */
  inRate: number;
  /** Output sample rate, in Hz (integer, 1000 … 768000). */
  outRate: number;
  /** Interleaved channel count. @default 1 */
  channels?: number;
  /**
   * SpeexDSP quality, 0 (fastest) … 10 (best). Higher values cost CPU and add filter latency
   * (at 6: 6 ms at 8 kHz, 3 ms at 16 kHz, whichever side of the conversion that rate is on). @default 6
   */
  quality?: number;
}

/**
 * A resampler for one audio stream. Keeps the filter state between chunks, so a stream cut into
 * chunks of any size (odd sizes too) resamples to the same samples as the stream resampled whole.
 *
 * Guarantees, for a stream of chunks of whole frames:
 * - After `n` input frames in total (since creation, `flush()` or `reset()`), exactly
 *   `ceil(n × outRate / inRate)` output frames have been returned.
 * - So one call returns at most `ceil(inputFrames × ratio)` frames (documented bound: plus
 *   {@link RESAMPLER_MAX_EXTRA_FRAMES}), and at least `floor(inputFrames × ratio)`: never an empty
 *   result for a chunk of at least `inRate / outRate` frames (any chunk of 1 ms or more).
 * - The output is delayed by {@link StreamResampler.delayFrames}: the first `delayFrames` output
 *   frames are the filter's start-up (near silence), and the last `delayFrames` worth of signal
 *   stays in the filter until more input or `flush()`.
 *
 * Not guaranteed: that concurrent use from several async tasks is meaningful (state is per stream:
 * use one resampler per stream).
 */
export interface StreamResampler {
  /** Input sample rate, in Hz. */
  readonly inRate: number;
  /** Output sample rate, in Hz. */
  readonly outRate: number;
  /** Interleaved channel count. */
  readonly channels: number;
  /** SpeexDSP quality in use (0 … 10). */
  readonly quality: number;
  /** Filter delay, in output frames (0 for a same-rate pass-through). */
  readonly delayFrames: number;
  /** Whether `dispose()` was called. */
  readonly disposed: boolean;
  /**
   * Resamples the next chunk of the stream (interleaved, whole frames).
   * A same-rate resampler returns `chunk` itself. Throws {@link ResamplerDisposedError} after
   * `dispose()`.
   */
  resample(chunk: Int16Array): Int16Array;
  /**
   * Ends the stream: returns the output still held in the filter (about `delayFrames` frames,
   * empty for pass-through), then resets so the next chunk starts a new stream.
   */
  flush(): Int16Array;
  /** Drops the filter state without returning it: the next chunk starts a new stream. */
  reset(): void;
  /** Frees the stream's state and wasm buffers. Idempotent; later calls to `resample` throw. */
  dispose(): void;
}

function checkRate(option: string, value: unknown): number {
  if (
    typeof value !== "number" ||
    !Number.isInteger(value) ||
    value < MIN_SAMPLE_RATE ||
    value > MAX_SAMPLE_RATE
  ) {
    throw new InvalidSampleRateError(option, value);
  }
  return value;
}

function checkOptions(options: StreamResamplerOptions): Required<StreamResamplerOptions> {
  const inRate = checkRate("inRate", options.inRate);
  const outRate = checkRate("outRate", options.outRate);
  const channels = options.channels ?? 1;
  const quality = options.quality ?? DEFAULT_RESAMPLER_QUALITY;
  if (!Number.isInteger(channels) || channels < 1 || channels > 64) {
    throw new InvalidOptionError(`resampler channels must be an integer from 1 to 64 (got ${channels})`);
  }
  if (!Number.isInteger(quality) || quality < 0 || quality > 10) {
    throw new InvalidOptionError(
      `resampler quality must be an integer from 0 to 10 (got ${quality}); 6 is a good default`,
    );
  }
  return { inRate, outRate, channels, quality };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

class PassThroughResampler implements StreamResampler {
  readonly delayFrames = 0;
  #disposed = false;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
    readonly channels: number,
    readonly quality: number,
  ) {}

  get disposed(): boolean {
    return this.#disposed;
  }

  resample(chunk: Int16Array): Int16Array {
    if (this.#disposed) throw new ResamplerDisposedError(this.inRate, this.outRate);
    checkLayout("StreamResampler.resample", chunk, this.channels);
    return chunk;
  }

  flush(): Int16Array {
    if (this.#disposed) throw new ResamplerDisposedError(this.inRate, this.outRate);
    return new Int16Array(0);
  }

  reset(): void {
    if (this.#disposed) throw new ResamplerDisposedError(this.inRate, this.outRate);
  }

  dispose(): void {
    this.#disposed = true;
  }
}

class SpeexStreamResampler implements StreamResampler {
  readonly delayFrames: number;
  readonly #state: SpeexState;
  /** The rate ratio reduced to lowest terms: outRate / inRate = #num / #den. */
  readonly #num: number;
  readonly #den: number;
  /** Total input frames modulo #den: all that matters to predict the next output size. */
  #phase = 0;
  #disposed = false;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
    readonly channels: number,
    readonly quality: number,
    state: SpeexState,
  ) {
    this.#state = state;
    this.delayFrames = state.outputLatencyFrames;
    const divisor = gcd(inRate, outRate);
    this.#num = outRate / divisor;
    this.#den = inRate / divisor;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  resample(chunk: Int16Array): Int16Array {
    if (this.#disposed) throw new ResamplerDisposedError(this.inRate, this.outRate);
    checkLayout("StreamResampler.resample", chunk, this.channels);
    return this.#process(chunk);
  }

  flush(): Int16Array {
    if (this.#disposed) throw new ResamplerDisposedError(this.inRate, this.outRate);
    // Half a filter length of zeros pushes every real input sample through the filter.
    const tail = this.#process(new Int16Array(this.#state.inputLatencyFrames * this.channels));
    this.reset();
    return tail;
  }

  reset(): void {
    if (this.#disposed) throw new ResamplerDisposedError(this.inRate, this.outRate);
    this.#state.reset();
    this.#phase = 0;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#state.destroy();
  }

  #process(chunk: Int16Array): Int16Array {
    const frames = chunk.length / this.channels;
    if (frames === 0) return new Int16Array(0);
    // Output so far is ceil(totalIn × num / den); only totalIn mod den changes the difference.
    const before = Math.ceil((this.#phase * this.#num) / this.#den);
    const after = Math.ceil(((this.#phase + frames) * this.#num) / this.#den);
    this.#phase = (this.#phase + frames) % this.#den;
    return this.#state.process(chunk, after - before);
  }
}

/**
 * Creates a streaming resampler for one audio stream. Loads the shared WebAssembly module on
 * first use (a few ms); later calls only allocate the stream's state (a few tens of KB).
 * A same-rate request returns a zero-cost pass-through that loads nothing.
 * Call `dispose()` when the stream ends; a forgotten stream's memory is reclaimed when it is
 * garbage-collected.
 *
 * Throws {@link InvalidSampleRateError} for a rate that is not an integer in 1000 … 768000 Hz, and
 * `InvalidOptionError` for a bad channel count or quality.
 *
 * @example
 * const resampler = await createStreamResampler({ inRate: 24000, outRate: 16000 });
 * for await (const chunk of ttsAudio) send(resampler.resample(chunk));
 * send(resampler.flush());
 * resampler.dispose();
 */
export async function createStreamResampler(options: StreamResamplerOptions): Promise<StreamResampler> {
  const { inRate, outRate, channels, quality } = checkOptions(options);
  if (inRate === outRate) return new PassThroughResampler(inRate, outRate, channels, quality);
  const module = await loadSpeexModule();
  const state = new SpeexState(module, { channels, inRate, outRate, quality, skipZeros: false });
  return new SpeexStreamResampler(inRate, outRate, channels, quality, state);
}

/**
 * Resamples a whole clip (a file, a sound effect) in one call.
 *
 * Unlike the streaming resampler, the output is aligned with the input (no filter delay) and has
 * exactly `round(inputFrames × outRate / inRate)` frames. Same-rate input is returned as a copy.
 *
 * @param audio - Interleaved PCM16, whole frames.
 * @param options.channels - Interleaved channel count. @default 1
 * @param options.quality - SpeexDSP quality 0 … 10. @default 6
 * @example
 * const { audio, sampleRate } = await readWavFile("hold-music.wav");
 * const at16k = await resampleOnce(audio, sampleRate, 16000);
 */
export async function resampleOnce(
  audio: Int16Array,
  inRate: number,
  outRate: number,
  options: { channels?: number; quality?: number } = {},
): Promise<Int16Array> {
  const { channels, quality } = checkOptions({ inRate, outRate, ...options });
  checkLayout("resampleOnce", audio, channels);
  if (inRate === outRate) return audio.slice();
  const frames = audio.length / channels;
  const target = Math.round((frames * outRate) / inRate);
  const module = await loadSpeexModule();
  const state = new SpeexState(module, { channels, inRate, outRate, quality, skipZeros: true });
  try {
    const body = state.process(audio, target);
    if (body.length >= target * channels)
      return body.length === target * channels ? body : body.slice(0, target * channels);
    // The filter still holds the end of the clip: push it out with zeros, then cut to length.
    const out = new Int16Array(target * channels);
    out.set(body);
    let written = body.length;
    const zeros = new Int16Array((state.inputLatencyFrames + 1) * channels);
    for (let round = 0; written < out.length && round < 4; round++) {
      const tail = state.process(zeros, Math.ceil(((zeros.length / channels) * outRate) / inRate));
      const take = Math.min(tail.length, out.length - written);
      out.set(tail.subarray(0, take), written);
      written += take;
    }
    return out;
  } finally {
    state.destroy();
  }
}
