/**
 * One stream's conversion to a fixed rate and channel count: the single home of "resample and
 * convert channels, and make a new resampler when the input rate changes".
 */
import type { Clock } from "../clock/clock.js";
import { convertChannels } from "./pcm.js";
import { type StreamResampler, createStreamResampler } from "./resampler.js";

/** Options of {@link AudioConverter}. */
export interface AudioConverterOptions {
  /** Rate of the output, in Hz (integer, 1000 … 768000). */
  outRate: number;
  /** Interleaved channels of the output. @default 1 */
  outChannels?: number;
  /**
   * The clock whose `track()` marks resampler creation (loading WebAssembly) as real work, so a
   * `VirtualClock` does not fire deadlines under it (docs/design/clock.md). @default none
   */
  clock?: Pick<Clock, "track">;
  /** SpeexDSP quality 0 … 10 (see `createStreamResampler`). @default 6 */
  quality?: number;
  /**
   * Drop the resampler's start-up output (its first `delayFrames` frames) on each new stream,
   * so converted audio keeps its place on a timeline (a recorder). The end of the signal then
   * comes out of {@link AudioConverter.flush}. Off: every stream of `n` input frames gives exactly
   * `ceil(n × outRate / inRate)` output frames (a transport keeps the stream's duration).
   * @default false
   */
  dropStartup?: boolean;
}

/**
 * Converts audio of any rate and channel count to one rate and channel count, keeping stream
 * state between chunks: one converter per audio stream.
 *
 * Channels are converted with `convertChannels` (fewer: averaged; more: copied) on whichever
 * side of the resampler has fewer channels, so the resampler always does the least work. The
 * resampler is created on the first chunk at a rate other than `outRate` (call {@link prepare} to
 * create it ahead) and re-created when the input rate changes (the old stream's state and its
 * last `delayFrames` of signal are dropped; that new stream starts afresh). Audio already at
 * `outRate` skips the resampler and leaves its state alone.
 *
 * Guarantees: the frame count of each stream is exactly that of its resampler (see
 * `StreamResampler`; the same as the input for same-rate audio); chunks of any size, including
 * one frame, are taken; `dispose()` frees the resampler, also one still being created.
 * Not guaranteed: meaningful output if chunks of one stream are converted concurrently
 * (serialise them; `prepare` itself may be called concurrently).
 *
 * @example
 * const toPipeline = new AudioConverter({ outRate: 16000, outChannels: 1, clock });
 * await toPipeline.prepare(48000, 2);
 * push(toPipeline.convert(stereoChunk, 48000, 2));
 * toPipeline.dispose();
 */
export class AudioConverter {
  readonly outRate: number;
  readonly outChannels: number;
  readonly #clock: Pick<Clock, "track"> | undefined;
  readonly #quality: number | undefined;
  readonly #dropStartup: boolean;
  #resampler: StreamResampler | undefined;
  #creating: Promise<void> | undefined;
  /** The resampler has been fed since it was created or flushed (its tail holds signal). */
  #fed = false;
  /** Start-up frames still to drop (with `dropStartup`). */
  #skip = 0;
  #disposed = false;

  constructor(options: AudioConverterOptions) {
    this.outRate = options.outRate;
    this.outChannels = options.outChannels ?? 1;
    this.#clock = options.clock;
    this.#quality = options.quality;
    this.#dropStartup = options.dropStartup ?? false;
  }

  /** Input rate of the current resampled stream, in Hz (undefined: none yet). */
  get inRate(): number | undefined {
    return this.#resampler?.inRate;
  }

  /** Filter delay of the current resampled stream, in output frames (0 without one). */
  get delayFrames(): number {
    return this.#resampler?.delayFrames ?? 0;
  }

  /** Whether {@link convert} can take audio at `inRate` with `inChannels` now, without {@link prepare}. */
  accepts(inRate: number, inChannels: number): boolean {
    if (this.#disposed) return false;
    if (inRate === this.outRate) return true;
    const r = this.#resampler;
    return r !== undefined && r.inRate === inRate && r.channels === Math.min(inChannels, this.outChannels);
  }

  /**
   * Makes the converter ready for audio at `inRate` with `inChannels` (creates the resampler,
   * marked with `clock.track`). Resolves at once if it already is. Rejects with
   * `InvalidSampleRateError` for a rate outside 1000 … 768000 Hz (the converter stays usable).
   */
  async prepare(inRate: number, inChannels: number): Promise<void> {
    while (!this.accepts(inRate, inChannels)) {
      if (this.#disposed) return;
      if (this.#creating) {
        await this.#creating; // someone else is making one: then check whether it fits
        continue;
      }
      this.#creating = this.#create(inRate, Math.min(inChannels, this.outChannels));
      try {
        await this.#creating;
      } finally {
        this.#creating = undefined;
      }
    }
  }

  /**
   * Converts the next chunk of the stream (interleaved, whole frames of `inChannels`). Returns
   * `audio` itself when nothing needs changing. Throws if the converter is not ready for this
   * rate and channel count ({@link accepts}), or after {@link dispose}.
   */
  convert(audio: Int16Array, inRate: number, inChannels: number): Int16Array {
    if (!this.accepts(inRate, inChannels)) {
      throw new Error(
        this.#disposed
          ? "AudioConverter: used after dispose()"
          : `AudioConverter: not ready for ${inRate} Hz × ${inChannels} channel(s); await prepare() first`,
      );
    }
    const out = this.outChannels;
    if (inRate === this.outRate) return convertChannels(audio, inChannels, out);
    const resampler = this.#resampler!;
    let samples = inChannels > out ? convertChannels(audio, inChannels, out) : audio;
    if (!this.#fed) this.#skip = this.#dropStartup ? resampler.delayFrames : 0;
    this.#fed = true;
    samples = resampler.resample(samples);
    if (this.#skip > 0) {
      const drop = Math.min(this.#skip, samples.length / resampler.channels);
      this.#skip -= drop;
      samples = samples.subarray(drop * resampler.channels);
    }
    return inChannels < out ? convertChannels(samples, inChannels, out) : samples;
  }

  /**
   * Ends the current stream: returns the signal still held in the resampler (about
   * `delayFrames` frames at the output's channels; empty if nothing was fed since the last
   * flush), and the next chunk starts a new stream.
   */
  flush(): Int16Array {
    const resampler = this.#resampler;
    if (!resampler || !this.#fed || this.#disposed) return new Int16Array(0);
    this.#fed = false;
    return convertChannels(resampler.flush(), resampler.channels, this.outChannels);
  }

  /** Frees the resampler. Idempotent; a resampler still being created is freed when it arrives. */
  dispose(): void {
    this.#disposed = true;
    this.#resampler?.dispose();
    this.#resampler = undefined;
  }

  async #create(inRate: number, channels: number): Promise<void> {
    const work = createStreamResampler({ inRate, outRate: this.outRate, channels, quality: this.#quality });
    const resampler = await (this.#clock ? this.#clock.track(work) : work);
    if (this.#disposed) {
      resampler.dispose();
      return;
    }
    this.#resampler?.dispose();
    this.#resampler = resampler;
    this.#fed = false;
    this.#skip = 0;
  }
}
