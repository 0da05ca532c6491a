import type { Clock } from "../clock/clock.js";
import { pooledCopy, pooledSilence } from "../audio/pcm-pool.js";
import { type StreamResampler, createStreamResampler } from "../audio/resampler.js";
import { OutputAudioRawFrame, TTSAudioRawFrame } from "../frames/audio.js";

/** The audio an output destination plays. */
export interface OutputFormat {
  /** Hz. */
  readonly sampleRate: number;
  readonly numChannels: number;
  /** Samples (all channels) per chunk: `floor(sampleRate / 100) × audioOut10msChunks × numChannels`. */
  readonly chunkSamples: number;
  /** Duration of one chunk, in ms. */
  readonly chunkMs: number;
}

/** Works out the chunk size and duration of an output at `sampleRate` Hz. */
export function outputFormat(sampleRate: number, numChannels: number, tenMsChunks: number): OutputFormat {
  const framesPerChunk = Math.floor(sampleRate / 100) * tenMsChunks;
  return Object.freeze({
    sampleRate,
    numChannels,
    chunkSamples: framesPerChunk * numChannels,
    chunkMs: (framesPerChunk / sampleRate) * 1000,
  });
}

/**
 * Turns a stream of audio frames into whole chunks at the output rate: resamples each frame (a
 * stream resampler per input rate, created when the rate changes), then cuts the result into
 * chunks of `chunkSamples`, keeping the rest for the next frame. Chunks keep the class of the
 * frames they came from (`TTSAudioRawFrame` or `OutputAudioRawFrame`); a change of class or
 * {@link flush} pads the partial chunk with silence, so no audio of a turn is lost. It does no
 * pacing: the sender queues what it returns.
 */
export class AudioChunker {
  #resampler: StreamResampler | undefined;
  #creating: Promise<StreamResampler> | undefined;
  #creatingRate = 0;
  #partial: Int16Array;
  #partialLength = 0;
  #partialType: typeof OutputAudioRawFrame = OutputAudioRawFrame;
  /** Bumped by reset(): a chunk() that was waiting for a resampler across a reset returns nothing. */
  #generation = 0;

  constructor(
    private readonly format: OutputFormat,
    private readonly clock: Clock,
  ) {
    this.#partial = new Int16Array(format.chunkSamples);
  }

  /**
   * The whole chunks that `frame` completes (resampled to the output rate); the rest waits for
   * more audio or {@link flush}. Returns nothing if a {@link reset} came while it waited for a
   * resampler to be created. `frame.numChannels` must be the output's.
   */
  async chunk(frame: OutputAudioRawFrame): Promise<OutputAudioRawFrame[]> {
    const generation = this.#generation;
    let audio = frame.audio;
    if (frame.sampleRate !== this.format.sampleRate) {
      const resampler = await this.#resamplerFor(frame.sampleRate);
      if (generation !== this.#generation) return [];
      audio = resampler.resample(audio);
    }
    return this.#cut(audio, frame instanceof TTSAudioRawFrame ? TTSAudioRawFrame : OutputAudioRawFrame);
  }

  /** The partial chunk, padded with silence (end of a turn), if there is one. */
  flush(): OutputAudioRawFrame | undefined {
    if (this.#partialLength === 0) return undefined;
    const chunk = this.#make(this.#partial); // the rest of the array is already zeros
    this.#partial = pooledSilence(this.format.chunkSamples);
    this.#partialLength = 0;
    return chunk;
  }

  /** Drops the partial chunk and the resampler's state (interruption: what it holds is stale). */
  reset(): void {
    this.#generation++;
    if (this.#partialLength > 0) this.#partial.fill(0);
    this.#partialLength = 0;
    this.#resampler?.reset();
  }

  /** Frees the resampler. Idempotent. */
  dispose(): void {
    this.#generation++;
    this.#resampler?.dispose();
    this.#resampler = undefined;
    this.#partialLength = 0;
  }

  async #resamplerFor(rate: number): Promise<StreamResampler> {
    if (this.#resampler?.inRate === rate && !this.#resampler.disposed) return this.#resampler;
    if (!this.#creating || this.#creatingRate !== rate) {
      this.#creatingRate = rate;
      this.#creating = this.clock.track(
        createStreamResampler({
          inRate: rate,
          outRate: this.format.sampleRate,
          channels: this.format.numChannels,
        }),
      );
    }
    const creating = this.#creating;
    const resampler = await creating;
    if (this.#creating === creating) this.#creating = undefined;
    if (this.#resampler !== resampler) {
      this.#resampler?.dispose();
      this.#resampler = resampler;
    }
    return resampler;
  }

  #cut(audio: Int16Array, type: typeof OutputAudioRawFrame): OutputAudioRawFrame[] {
    const chunks: OutputAudioRawFrame[] = [];
    if (this.#partialLength > 0 && type !== this.#partialType) chunks.push(this.flush()!);
    this.#partialType = type;
    const size = this.format.chunkSamples;
    let offset = 0;
    // Whole chunks straight from the input when nothing is pending: one copy each, no staging.
    while (this.#partialLength === 0 && audio.length - offset >= size) {
      chunks.push(this.#make(pooledCopy(audio.subarray(offset, offset + size))));
      offset += size;
    }
    while (offset < audio.length) {
      const take = Math.min(size - this.#partialLength, audio.length - offset);
      this.#partial.set(audio.subarray(offset, offset + take), this.#partialLength);
      this.#partialLength += take;
      offset += take;
      if (this.#partialLength === size) {
        chunks.push(this.#make(this.#partial));
        this.#partial = pooledSilence(size);
        this.#partialLength = 0;
      }
    }
    return chunks;
  }

  #make(samples: Int16Array): OutputAudioRawFrame {
    return new this.#partialType(samples, this.format.sampleRate, this.format.numChannels);
  }
}
