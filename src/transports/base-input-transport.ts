import { type StreamResampler, createStreamResampler } from "../audio/resampler.js";
import { loadSpeexModule } from "../audio/speex-wasm.js";
import { InputAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection } from "../frames/frame.js";
import type { CancelFrame, EndFrame, StartFrame } from "../frames/lifecycle.js";
import { FrameProcessor, type FrameProcessorOptions } from "../processors/frame-processor.js";
import { InvalidOptionError } from "../errors.js";
import { type TransportParams, resolveTransportParams } from "./transport-params.js";

/**
 * Brings the client's audio into the pipeline (DESIGN §6). Subclasses hand raw audio to
 * {@link pushAudio}; the base class drops it until the pipeline has started, runs the noise
 * filter, resamples it to the pipeline's input rate and pushes `InputAudioRawFrame`s, in order.
 * Audio arriving after the end or a cancel is dropped (counted in `droppedAudioChunks`).
 */
export abstract class BaseInputTransport extends FrameProcessor {
  readonly params: Readonly<TransportParams>;
  #running = false;
  #pipelineRate = 0;
  #resampler: StreamResampler | undefined;
  /** Serialises pushes: each chunk is filtered, resampled and pushed before the next. */
  #chain: Promise<void> = Promise.resolve();
  /** Chunks dropped because the transport was not running. */
  droppedAudioChunks = 0;

  constructor(params: Partial<TransportParams> = {}, options: FrameProcessorOptions = {}) {
    super(options);
    this.params = resolveTransportParams(params);
  }

  /** The rate audio is pushed into the pipeline at, in Hz (known once started). */
  get pipelineSampleRate(): number {
    return this.#pipelineRate;
  }

  /** Whether the transport accepts audio (started, not ended or cancelled). */
  get running(): boolean {
    return this.#running;
  }

  protected override async start(frame: StartFrame): Promise<void> {
    this.#pipelineRate = frame.params.audioInSampleRate;
    if (!this.params.audioInEnabled) return;
    const inRate = this.params.audioInSampleRate ?? this.#pipelineRate;
    if (this.params.audioInFilter) await this.clock.track(this.params.audioInFilter.start(inRate));
    await this.clock.track(loadSpeexModule()); // so the first chunk at another rate is not held up
    this.#running = true;
  }

  protected override async stop(_frame: EndFrame): Promise<void> {
    await this.#shutdown();
  }

  protected override async cancel(_frame: CancelFrame): Promise<void> {
    await this.#shutdown();
  }

  protected override async cleanup(): Promise<void> {
    await this.#shutdown();
  }

  /**
   * Pushes the client's audio into the pipeline. `sampleRate` defaults to
   * `audioInSampleRate` (or the pipeline rate). Resolves once the chunk has been pushed (or
   * dropped). Throws on malformed input, saying what was wrong.
   */
  pushAudio(audio: Int16Array, sampleRate?: number, numChannels?: number): Promise<void> {
    const rate = sampleRate ?? this.params.audioInSampleRate ?? (this.#pipelineRate || undefined);
    const channels = numChannels ?? this.params.audioInChannels;
    if (!this.#running || rate === undefined) {
      this.droppedAudioChunks++;
      return Promise.resolve();
    }
    if (!(audio instanceof Int16Array)) {
      throw new InvalidOptionError(`${this.name}.pushAudio: audio must be an Int16Array of PCM16 samples`);
    }
    if (!Number.isInteger(rate) || rate < 1000) {
      throw new InvalidOptionError(
        `${this.name}.pushAudio: sample rate must be an integer number of Hz ≥ 1000 (got ${rate})`,
      );
    }
    if (audio.length % channels !== 0) {
      throw new InvalidOptionError(
        `${this.name}.pushAudio: ${audio.length} samples is not a whole number of ${channels}-channel frames`,
      );
    }
    const next = this.#chain.then(() => this.#process(audio, rate, channels));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    // Audio sent up from later in the pipeline (e.g. a client message carrying audio) takes the same path.
    if (direction === FrameDirection.UPSTREAM && frame instanceof InputAudioRawFrame) {
      return this.pushAudio(frame.audio, frame.sampleRate, frame.numChannels);
    }
    return super.processFrame(frame, direction);
  }

  async #process(audio: Int16Array, rate: number, channels: number): Promise<void> {
    if (!this.#running) {
      this.droppedAudioChunks++;
      return;
    }
    let samples = audio;
    const filter = this.params.audioInFilter;
    if (filter?.enabled && channels === 1) {
      samples = filter.filter(samples);
      if (samples.length === 0) return;
    }
    if (rate !== this.#pipelineRate) {
      if (!this.#resampler || this.#resampler.inRate !== rate || this.#resampler.channels !== channels) {
        this.#resampler?.dispose();
        this.#resampler = await createStreamResampler({
          inRate: rate,
          outRate: this.#pipelineRate,
          channels,
        });
      }
      samples = this.#resampler.resample(samples);
      if (samples.length === 0) return;
    }
    if (!this.#running || !this.params.audioInPassthrough) return;
    await this.pushFrame(
      new InputAudioRawFrame(samples, this.#pipelineRate, channels),
      FrameDirection.DOWNSTREAM,
    );
  }

  async #shutdown(): Promise<void> {
    if (!this.#running && !this.#resampler) return;
    this.#running = false;
    await this.#chain;
    this.#resampler?.dispose();
    this.#resampler = undefined;
    await this.params.audioInFilter?.stop();
  }
}
