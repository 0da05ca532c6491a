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
 * {@link pushAudio}; the base class drops it until the pipeline has started, resamples it to the
 * pipeline's input rate, runs the noise filter (at that rate) and pushes `InputAudioRawFrame`s,
 * in order. On `EndFrame` the audio already accepted goes out ahead of it; audio arriving after
 * the end or a cancel is dropped (counted in `droppedAudioChunks`).
 */
export abstract class BaseInputTransport extends FrameProcessor {
  readonly params: Readonly<TransportParams>;
  /** Takes new audio (started, not ending or cancelled). */
  #accepting = false;
  /** Still processes audio it accepted (false once cancelled, or drained at the end). */
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

  /** Whether the transport accepts audio (started, not ending or cancelled). */
  get running(): boolean {
    return this.#accepting;
  }

  protected override async start(frame: StartFrame): Promise<void> {
    this.#pipelineRate = frame.params.audioInSampleRate;
    if (!this.params.audioInEnabled) return;
    const inRate = this.params.audioInSampleRate ?? this.#pipelineRate;
    // The filter runs on audio at the pipeline's rate, after resampling, so its rate never
    // depends on what a caller pushes.
    if (this.params.audioInFilter)
      await this.clock.track(this.params.audioInFilter.start(this.#pipelineRate));
    if (inRate !== this.#pipelineRate) await this.clock.track(loadSpeexModule()); // first chunk not held up
    this.#running = true;
    this.#accepting = true;
  }

  /** End: audio accepted before the EndFrame still goes out ahead of it; later audio is dropped. */
  protected override async stop(_frame: EndFrame): Promise<void> {
    this.#accepting = false;
    await this.#chain;
    await this.#shutdown();
  }

  /** Cancel: stops at once; audio not yet pushed is dropped (and counted). */
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
  async pushAudio(audio: Int16Array, sampleRate?: number, numChannels?: number): Promise<void> {
    const rate = sampleRate ?? this.params.audioInSampleRate ?? (this.#pipelineRate || undefined);
    const channels = numChannels ?? this.params.audioInChannels;
    if (!(audio instanceof Int16Array)) {
      throw new InvalidOptionError(`${this.name}.pushAudio: audio must be an Int16Array of PCM16 samples`);
    }
    if (rate !== undefined && (!Number.isInteger(rate) || rate < 1000)) {
      throw new InvalidOptionError(
        `${this.name}.pushAudio: sample rate must be an integer number of Hz ≥ 1000 (got ${rate})`,
      );
    }
    if (!Number.isInteger(channels) || channels < 1 || audio.length % channels !== 0) {
      throw new InvalidOptionError(
        `${this.name}.pushAudio: ${audio.length} samples is not a whole number of ${channels}-channel frames`,
      );
    }
    if (!this.#accepting || rate === undefined) {
      this.droppedAudioChunks++;
      return;
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
    if (rate !== this.#pipelineRate) {
      if (!this.#resampler || this.#resampler.inRate !== rate || this.#resampler.channels !== channels) {
        this.#resampler?.dispose();
        this.#resampler = await this.clock.track(
          createStreamResampler({
            inRate: rate,
            outRate: this.#pipelineRate,
            channels,
          }),
        );
      }
      samples = this.#resampler.resample(samples);
    }
    const filter = this.params.audioInFilter;
    if (filter?.enabled && channels === 1 && samples.length > 0) samples = filter.filter(samples);
    if (samples.length === 0) return; // held in the resampler or the filter until more comes
    if (!this.#running) {
      this.droppedAudioChunks++;
      return;
    }
    if (!this.params.audioInPassthrough) return;
    await this.pushFrame(
      new InputAudioRawFrame(samples, this.#pipelineRate, channels),
      FrameDirection.DOWNSTREAM,
    );
  }

  async #shutdown(): Promise<void> {
    this.#accepting = false;
    if (!this.#running && !this.#resampler) return;
    this.#running = false;
    await this.#chain;
    this.#resampler?.dispose();
    this.#resampler = undefined;
    await this.params.audioInFilter?.stop();
  }
}
