import { AudioConverter } from "../audio/audio-converter.js";
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "../audio/resampler.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { InputAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection, FrameFlags } from "../frames/frame.js";
import type { CancelFrame, EndFrame, StartFrame } from "../frames/lifecycle.js";
import { FrameProcessor, type FrameProcessorOptions } from "../processors/frame-processor.js";
import { RepeatReporter } from "../reporting/repeat-reporter.js";
import { CancelledError, InvalidOptionError, VoicepipeError, describe } from "../errors.js";
import { withDeadline } from "./deadline.js";
import { type TransportParams, resolveTransportParams } from "./transport-params.js";

/** Options of {@link BaseInputTransport}, besides its {@link TransportParams}. */
export interface BaseInputTransportOptions extends FrameProcessorOptions {
  /**
   * Longest wait for {@link BaseInputTransport.open}, in ms of the task clock. Past it the
   * transport reports a fatal error naming itself, and the task ends. @default 10000
   */
  openTimeoutMs?: number;
}

/** An input transport's `open()` failed or did not finish within `openTimeoutMs`. */
export class TransportOpenError extends VoicepipeError {
  readonly code = "VP_TRANSPORT_OPEN";
  constructor(
    readonly transport: string,
    reason: string,
    cause?: unknown,
  ) {
    super(`${transport} could not open its input: ${reason}`, { cause });
  }
}

/**
 * Brings what a client sends into the pipeline (docs/design/input-transport.md).
 *
 * **Lifecycle.** The base class owns it; a subclass implements two small verbs and never calls
 * `super`: {@link open} (acquire the source: connect, read a file) runs once at `StartFrame`,
 * bounded by `openTimeoutMs`; {@link close} (release it) runs once at `EndFrame`, `CancelFrame` or
 * teardown, whichever comes first, and also after an `open()` that failed. A failed or late
 * `open()` is a fatal error: with no input, nothing would ever end the task.
 *
 * **Input.** Subclasses hand over what they receive, in the order received: audio with
 * {@link pushAudio}, any decoded frame (transcription, message, DTMF, …) with {@link pushInput}.
 * Both go through one chain, so a frame never overtakes audio that arrived before it. Audio is
 * converted to the pipeline's rate (`StartFrame`'s `audioInSampleRate`) and to `audioInChannels`
 * channels (mono unless configured: more channels are averaged, fewer copied), then filtered by
 * `audioInFilter` (mono pipelines only), then pushed as `InputAudioRawFrame`s. Each stream's
 * duration is kept exactly (see `AudioConverter`); a rate change starts a new resampler stream.
 *
 * **Refusals.** Input offered before the start or after the end or a cancel is dropped and
 * counted (`droppedAudioChunks`, `droppedInputFrames`) and said once in the log. Audio that
 * cannot be converted (a rate outside 1000 … 768000 Hz in a frame) is dropped, reported once per
 * rate as a non-fatal `ErrorFrame`, and its repeats are counted and summarised (never once per
 * chunk). `pushAudio` called with malformed arguments throws at once: that is the caller's bug.
 */
export abstract class BaseInputTransport extends FrameProcessor {
  readonly params: Readonly<TransportParams>;
  readonly #openTimeoutMs: number;
  /** Takes new input (started, not ending or cancelled). */
  #accepting = false;
  /** The filter threw once: it is not called again. */
  #filterFailed = false;
  /** The filter's start() was called: its stop() is owed. */
  #filterStarted = false;
  /** Still delivers input it accepted (false once cancelled or shut down). */
  #running = false;
  #pipelineRate = 0;
  #converter: AudioConverter | undefined;
  /** Serialises input: each chunk or frame is converted and pushed before the next. */
  #chain: Promise<void> = Promise.resolve();
  /** `open()` was called: `close()` is owed. */
  #opened = false;
  #shutdown: Promise<void> | undefined;
  readonly #repeats: RepeatReporter;
  /** Audio chunks dropped because the transport was not running, or that could not be converted. */
  droppedAudioChunks = 0;
  /** Frames other than audio given to {@link pushInput} and dropped because the transport was not running. */
  droppedInputFrames = 0;

  constructor(params: Partial<TransportParams> = {}, options: BaseInputTransportOptions = {}) {
    super(options);
    this.params = resolveTransportParams(params);
    const openTimeoutMs = options.openTimeoutMs ?? 10_000;
    if (!Number.isFinite(openTimeoutMs) || openTimeoutMs <= 0) {
      throw new InvalidOptionError(
        `${this.name}: openTimeoutMs must be a number of ms > 0 (got ${String(options.openTimeoutMs)})`,
      );
    }
    this.#openTimeoutMs = openTimeoutMs;
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.context ? this.clock.now() : 0),
    });
  }

  /** The rate audio is pushed into the pipeline at, in Hz (known once started). */
  get pipelineSampleRate(): number {
    return this.#pipelineRate;
  }

  /** Channels of the audio pushed into the pipeline (`audioInChannels`). */
  get pipelineChannels(): number {
    return this.params.audioInChannels;
  }

  /** Whether the transport accepts audio (started with audio in enabled, not ending or cancelled). */
  get running(): boolean {
    return this.#accepting && this.params.audioInEnabled;
  }

  // ---------------------------------------------------------------- verbs for subclasses

  /**
   * Acquires the source (connect, read a file). Runs once, at `StartFrame`; input may be pushed
   * from the moment it is called. `signal` aborts after `openTimeoutMs` or when the task is
   * cancelled: hand it to every wait. Throw to fail the start (a fatal error naming the cause).
   * The default does nothing.
   */
  protected open(_signal: AbortSignal): void | Promise<void> {}

  /**
   * Releases the source: stop receiving, close what `open()` acquired (a shared connection:
   * release your hold, do not close what the output still uses). Runs once, at the end, on cancel
   * or at teardown, and also after an `open()` that failed or timed out. Input pushed after it is
   * dropped. The default does nothing.
   */
  protected close(): void | Promise<void> {}

  /**
   * Gives back what the constructor took (a socket handed over when the transport was made).
   * Runs once, when the input is done for good: after `close()`, or instead of it when `open()`
   * never ran (the task was cancelled before it started). The default does nothing.
   */
  protected dispose(): void | Promise<void> {}

  // ---------------------------------------------------------------- input

  /**
   * Pushes the client's audio into the pipeline, after everything handed over before it.
   * `sampleRate` defaults to `audioInSampleRate` (or the pipeline rate), `numChannels` to
   * `audioInChannels`. Resolves once the chunk has been pushed (or dropped).
   * Throws `InvalidOptionError` at once for malformed arguments, saying what was wrong.
   */
  pushAudio(audio: Int16Array, sampleRate?: number, numChannels?: number): Promise<void> {
    const rate = sampleRate ?? this.params.audioInSampleRate ?? (this.#pipelineRate || undefined);
    const channels = numChannels ?? this.params.audioInChannels;
    if (!(audio instanceof Int16Array)) {
      throw new InvalidOptionError(`${this.name}.pushAudio: audio must be an Int16Array of PCM16 samples`);
    }
    if (rate !== undefined && !isConvertibleRate(rate)) {
      throw new InvalidOptionError(
        `${this.name}.pushAudio: sample rate must be an integer number of Hz ≤ ${MAX_SAMPLE_RATE} and ≥ ${MIN_SAMPLE_RATE} (got ${rate})`,
      );
    }
    if (!Number.isInteger(channels) || channels < 1 || audio.length % channels !== 0) {
      throw new InvalidOptionError(
        `${this.name}.pushAudio: ${audio.length} samples is not a whole number of ${channels}-channel frames`,
      );
    }
    if (rate === undefined) return this.#dropAudio();
    return this.#enqueueAudio(audio, rate, channels);
  }

  /**
   * Pushes any frame the transport decoded (audio, a transcription, a client message, DTMF…)
   * downstream, after everything handed over before it: a message that arrived after an audio
   * chunk never overtakes it. An `InputAudioRawFrame` is converted like {@link pushAudio} audio,
   * but a rate that cannot be converted is reported (once per rate) instead of thrown, since the
   * frame came from the client. Lifecycle frames are refused (throws `InvalidOptionError`): ask
   * the task with `EndTaskFrame`/`CancelTaskFrame` instead. Resolves once pushed (or dropped).
   */
  pushInput(frame: Frame): Promise<void> {
    if (frame.schedulingFlags & LIFECYCLE_FLAGS) {
      throw new InvalidOptionError(
        `${this.name}.pushInput: ${frame.name} is a lifecycle frame, which only the task sends; ` +
          "push an EndTaskFrame or CancelTaskFrame to ask the task to end",
      );
    }
    if (frame instanceof InputAudioRawFrame) {
      if (!isConvertibleRate(frame.sampleRate)) return this.#refuseRate(frame.sampleRate);
      return this.#enqueueAudio(frame.audio, frame.sampleRate, frame.numChannels);
    }
    if (!this.#accepting) {
      this.droppedInputFrames++;
      this.#sayDropped(this.#opened ? "after-end" : "before-start", frame.constructor.name);
      return Promise.resolve();
    }
    return this.#enqueue(async () => {
      if (!this.#running) {
        this.droppedInputFrames++;
        return;
      }
      await this.pushFrame(frame, FrameDirection.DOWNSTREAM);
    });
  }

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    // Audio sent up from later in the pipeline (e.g. a client message carrying audio) takes the same path.
    if (direction === FrameDirection.UPSTREAM && frame instanceof InputAudioRawFrame) {
      return this.pushInput(frame);
    }
    return super.processFrame(frame, direction);
  }

  // ---------------------------------------------------------------- lifecycle (owned here)

  protected override async start(frame: StartFrame): Promise<void> {
    this.#pipelineRate = frame.params.audioInSampleRate;
    try {
      if (this.params.audioInEnabled) await this.#prepareAudio();
    } catch (error) {
      // Audio that could never be converted or filtered: as fatal as a source that cannot open.
      await this.#failOpen(
        new TransportOpenError(this.name, `its audio cannot be set up: ${describe(error)}`, error),
      );
      return;
    }
    // Cancelled (or torn down) while preparing: open nothing, close() is not owed.
    if (this.lifeSignal.aborted || this.#shutdown) return;
    this.#running = true;
    this.#accepting = true;
    this.#opened = true;
    try {
      await this.#openWithDeadline();
    } catch (error) {
      if (this.lifeSignal.aborted) return; // cancelled while opening: not a failure of the source
      await this.#failOpen(
        error instanceof TransportOpenError
          ? error
          : new TransportOpenError(this.name, describe(error), error),
      );
    }
  }

  /** End: input accepted before the EndFrame still goes out ahead of it; later input is dropped. */
  protected override async end(_frame: EndFrame): Promise<void> {
    this.#accepting = false;
    await this.#close();
  }

  /** Cancel: stops at once; input not yet pushed is dropped (and counted). */
  protected override async cancel(_frame: CancelFrame): Promise<void> {
    this.#running = false;
    await this.#close();
  }

  protected override async cleanup(): Promise<void> {
    this.#running = false;
    await this.#close();
  }

  // ---------------------------------------------------------------- internals

  /** The converter (and the resampler for `audioInSampleRate`, so the first chunk does not wait) and the filter. */
  async #prepareAudio(): Promise<void> {
    const converter = new AudioConverter({
      outRate: this.#pipelineRate,
      outChannels: this.params.audioInChannels,
      clock: this.clock,
    });
    this.#converter = converter;
    // The filter runs on audio at the pipeline's rate, after conversion, so its rate never
    // depends on what a caller pushes.
    const filter = this.params.audioInFilter;
    if (filter) {
      this.#filterStarted = true; // from here on its stop() is owed, even if start() fails
      await this.clock.track(filter.start(this.#pipelineRate));
    }
    const inRate = this.params.audioInSampleRate;
    if (inRate !== undefined) await converter.prepare(inRate, this.params.audioInChannels);
  }

  async #failOpen(error: TransportOpenError): Promise<void> {
    await this.#close();
    await this.pushError(error, { fatal: true });
  }

  async #openWithDeadline(): Promise<void> {
    if (this.lifeSignal.aborted) throw this.lifeSignal.reason; // never open what is already being closed
    try {
      await deadline(
        this.clock,
        // The signal open() keeps is the life of what it opened: aborted by the deadline while
        // opening, and by cancel or teardown for as long as the transport lives.
        (signal) => Promise.resolve().then(() => this.open(AbortSignal.any([signal, this.lifeSignal]))),
        this.#openTimeoutMs,
        `${this.name}: open()`,
        { signal: this.lifeSignal },
      );
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      throw new TransportOpenError(
        this.name,
        `open() did not finish within openTimeoutMs (${this.#openTimeoutMs} ms); check that the source is reachable`,
      );
    }
  }

  /** Runs `close()` once, then drains the chain and frees the converter and filter. */
  #close(): Promise<void> {
    this.#accepting = false;
    this.#shutdown ??= (async () => {
      if (this.#opened) {
        try {
          await this.close();
        } catch (error) {
          if (!(error instanceof CancelledError)) {
            this.logger.error(`${this.name}: close() failed: ${describe(error)}`, { processor: this.name });
          }
        }
      }
      await this.#chain;
      this.#running = false;
      this.#converter?.dispose();
      this.#converter = undefined;
      await this.#stopFilter();
      this.#repeats.flush();
      try {
        await this.dispose();
      } catch (error) {
        this.logger.error(`${this.name}: dispose() failed: ${describe(error)}`, { processor: this.name });
      }
    })();
    return this.#shutdown;
  }

  /** Stops the filter within `closeTimeoutMs`; a failure is logged, and the shutdown goes on. */
  async #stopFilter(): Promise<void> {
    const filter = this.params.audioInFilter;
    // A filter never started (the task was cancelled before it ran) has nothing to stop.
    if (!filter || !this.#filterStarted) return;
    try {
      await withDeadline(
        this.clock,
        () => filter.stop(),
        this.params.closeTimeoutMs,
        `${this.name}: the audio filter's stop()`,
      );
    } catch (error) {
      this.logger.error(`${this.name}: the audio filter did not stop cleanly: ${describe(error)}`, {
        processor: this.name,
      });
    }
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(step);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  #enqueueAudio(audio: Int16Array, rate: number, channels: number): Promise<void> {
    if (!this.running) return this.#dropAudio();
    return this.#enqueue(() => this.#processAudio(audio, rate, channels));
  }

  async #processAudio(audio: Int16Array, rate: number, channels: number): Promise<void> {
    const converter = this.#converter;
    if (!this.#running || !converter) {
      this.droppedAudioChunks++;
      return;
    }
    let samples: Int16Array;
    try {
      if (!converter.accepts(rate, channels)) await converter.prepare(rate, channels);
      if (!this.#running) {
        this.droppedAudioChunks++;
        return;
      }
      samples = converter.convert(audio, rate, channels);
    } catch (error) {
      this.droppedAudioChunks++;
      const message =
        `${this.name}: audio at ${rate} Hz × ${channels} channel(s) cannot be converted to ${this.#pipelineRate} Hz ` +
        `× ${this.params.audioInChannels} and is dropped: ${describe(error)}`;
      if (this.#repeats.occurred(`convert:${rate}:${channels}`, message)) void this.pushError(message);
      return;
    }
    const filter = this.params.audioInFilter;
    if (filter?.enabled && !this.#filterFailed && this.params.audioInChannels === 1 && samples.length > 0) {
      try {
        samples = filter.filter(samples);
      } catch (error) {
        // As a mixer that fails is turned off: said once, and the audio goes on unfiltered.
        this.#filterFailed = true;
        void this.pushError(
          `${this.name}: the audio filter failed (${describe(error)}); audio goes on unfiltered for the rest of the session`,
        );
      }
    }
    if (samples.length === 0) return; // held in the resampler or the filter until more comes
    if (!this.params.audioInPassthrough) return;
    await this.pushFrame(
      new InputAudioRawFrame(samples, this.#pipelineRate, this.params.audioInChannels),
      FrameDirection.DOWNSTREAM,
    );
  }

  #refuseRate(rate: number): Promise<void> {
    this.droppedAudioChunks++;
    const message =
      `${this.name}: an InputAudioRawFrame at ${rate} Hz cannot be resampled (rates must be integers from ` +
      `${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} Hz) and is dropped; check the rate the client announces`;
    if (this.#repeats.occurred(`rate:${rate}`, message)) return Promise.resolve(this.pushError(message));
    return Promise.resolve();
  }

  #dropAudio(): Promise<void> {
    this.droppedAudioChunks++;
    // Said from whether the input has opened: the pipeline's rate is known before its start
    // (a filter loading) has finished.
    const kind: DropKind = !this.#opened
      ? "before-start"
      : this.params.audioInEnabled
        ? "after-end"
        : "disabled";
    this.#sayDropped(kind, "audio");
    return Promise.resolve();
  }

  /** Says once per kind that input is being dropped (repeats are counted and summarised). */
  #sayDropped(kind: DropKind, what: string): void {
    const messages: Record<DropKind, string> = {
      "before-start": `${what} pushed before the pipeline started is dropped; push once the task has started`,
      disabled: `${what} is dropped: audio in is disabled (set TransportParams.audioInEnabled to take it)`,
      "after-end": `${what} pushed after the input ended or was cancelled is dropped; stop pushing once the task ends`,
    };
    const message = `${this.name}: ${messages[kind]}`;
    // Before the start it is a normal race (a client talks before the pipeline is up): info only.
    const level = kind === "before-start" ? "info" : "warn";
    if (this.#repeats.occurred(`dropped:${kind}:${what}`, message, "warn")) {
      this.logger[level](message, { processor: this.name });
    }
  }
}

const LIFECYCLE_FLAGS = FrameFlags.START | FrameFlags.END | FrameFlags.CANCEL;

type DropKind = "before-start" | "disabled" | "after-end";

function isConvertibleRate(rate: number): boolean {
  return Number.isInteger(rate) && rate >= MIN_SAMPLE_RATE && rate <= MAX_SAMPLE_RATE;
}
