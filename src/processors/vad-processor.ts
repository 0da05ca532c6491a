import type { VADAnalyzer, VADTransition } from "../audio/vad/vad-analyzer.js";
import { VADAnalysisError, VADInputError, VADSampleRateError } from "../audio/vad/vad-errors.js";
import { VADState } from "../audio/vad/vad-state.js";
import { downmixToMono } from "../audio/pcm.js";
import { describe } from "../errors.js";
import { InputAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection } from "../frames/frame.js";
import {
  UserSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../frames/speaking.js";
import { InvalidOptionError } from "../errors.js";
import { IdleMonitor } from "../pipeline/task-monitors.js";
import { RepeatReporter } from "../reporting/repeat-reporter.js";
import { FrameProcessor, type FrameProcessorOptions } from "./frame-processor.js";

/** Options of {@link VADProcessor}. */
export interface VADProcessorOptions extends Omit<FrameProcessorOptions, "direct"> {
  /** The analyzer for this stream (one per stream: it holds the stream's state). */
  analyzer: VADAnalyzer;
  /**
   * Least time between two `UserSpeakingFrame`s while the user speaks, in ms of the task
   * clock. @default 200
   */
  speakingIntervalMs?: number;
  /**
   * While the user speaks, no audio for this long (a muted microphone, a stalled stream) ends
   * the speech: `VADUserStoppedSpeakingFrame` is sent and the analyzer starts over, instead of
   * the user "speaking" forever. ms of task-clock time; 0 turns it off. @default 1000
   */
  audioIdleTimeoutMs?: number;
}

/**
 * Voice activity detection in a pipeline (Pipecat's `VADProcessor`): feeds every downstream
 * `InputAudioRawFrame` to its {@link VADAnalyzer} and broadcasts, both ways:
 *
 * - `VADUserStartedSpeakingFrame(startMs, timestampMs)` when speech is confirmed (`startMs` of
 *   the params in force, `timestampMs` = task clock now), and
 *   `VADUserStoppedSpeakingFrame(stopMs, timestampMs)` when silence is;
 * - `UserSpeakingFrame` while the analyzer is SPEAKING, at most once per `speakingIntervalMs`
 *   of task-clock time (the first one `speakingIntervalMs` after the start).
 *
 * Guarantees: every audio frame is forwarded, after the VAD frames its audio caused, in
 * arrival order (input audio is a system frame; the system lane awaits each analysis before
 * the next frame). `EndFrame` is handled (by the base class) only after every audio frame that
 * arrived before it has been analysed and forwarded. Audio the analyzer cannot take (a rate it
 * does not support, or a rate different from the stream's first frame) is forwarded unanalysed
 * and reported once per rate as a non-fatal error upstream. A model that cannot load or fails is
 * reported once per run of failures (a run ends only when a model window succeeds; a model that
 * failed to load at the start counts as the run's first failure), never once per window: the
 * repeats are counted and summarised in the log (at most every 10 s, and at the end).
 * Multi-channel audio is averaged to mono for analysis (the frame itself is forwarded as is).
 *
 * The analyzer's sample rate follows the first audio frame. Params can be changed at run time
 * with `processor.analyzer.setParams(...)`. Runs queued (never in direct mode).
 *
 * @example
 * const vad = new VADProcessor({ analyzer: new SileroVADAnalyzer() });
 * const pipeline = new Pipeline([transport.input(), vad, stt, userAggregator, llm, tts, transport.output()]);
 */
export class VADProcessor extends FrameProcessor {
  /** The analyzer fed by this processor. */
  readonly analyzer: VADAnalyzer;
  /** Least ms of task-clock time between two `UserSpeakingFrame`s. */
  readonly speakingIntervalMs: number;

  /** The stream's sample rate, fixed by the first analysed frame. */
  #streamRate: number | undefined;
  readonly #repeats: RepeatReporter;
  #lastSpeakingAt = 0;
  /** Between a started and a stopped frame sent by this processor. */
  #speaking = false;
  /** The analyzer must start over before the next audio (set by the audio-idle timeout). */
  #resetPending = false;
  readonly #audioIdleTimeoutMs: number;
  #audioIdle: IdleMonitor | undefined;

  constructor(options: VADProcessorOptions) {
    super({ ...options, direct: false });
    this.analyzer = options.analyzer;
    this.speakingIntervalMs = options.speakingIntervalMs ?? 200;
    this.#audioIdleTimeoutMs = options.audioIdleTimeoutMs ?? 1000;
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.context ? this.clock.now() : 0),
    });
    if (!Number.isFinite(this.speakingIntervalMs) || this.speakingIntervalMs < 0) {
      throw new InvalidOptionError(
        `VADProcessor: speakingIntervalMs must be a finite number of ms ≥ 0 (got ${String(options.speakingIntervalMs)})`,
      );
    }
    if (!Number.isFinite(this.#audioIdleTimeoutMs) || this.#audioIdleTimeoutMs < 0) {
      throw new InvalidOptionError(
        `VADProcessor: audioIdleTimeoutMs must be a number of ms ≥ 0 (got ${String(options.audioIdleTimeoutMs)})`,
      );
    }
  }

  override processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): void | Promise<void> {
    if (frame instanceof InputAudioRawFrame && direction === FrameDirection.DOWNSTREAM) {
      return this.#handleAudio(frame, direction);
    }
    return super.processFrame(frame, direction, signal);
  }

  /**
   * Loads the analyzer's model (if any) before audio flows. A failure is reported upstream once,
   * as the first failure of the analysis (audio is then forwarded unanalysed while it fails).
   */
  protected override async start(): Promise<void> {
    try {
      await this.clock.track(this.analyzer.ready()); // loading the model is real work
    } catch (error) {
      this.#analysisFailed(error);
    }
    if (this.#audioIdleTimeoutMs > 0) {
      this.#audioIdle = new IdleMonitor(this.clock, this.#audioIdleTimeoutMs, () => {
        this.#resetPending = true; // analyze() may be running: start over before the next audio
        void this.#stopSpeaking();
        return "stop";
      });
    }
  }

  /** The stream ends while the user speaks: say so before the EndFrame passes on. */
  protected override async end(): Promise<void> {
    this.#audioIdle?.stop();
    await this.#stopSpeaking();
    this.#repeats.flush();
  }

  protected override cancel(): void {
    this.#audioIdle?.stop();
    this.#repeats.flush();
  }

  protected override cleanup(): void {
    this.#audioIdle?.stop();
    this.#repeats.flush();
  }

  /** Sends `VADUserStoppedSpeakingFrame` if this processor said the user started speaking. */
  async #stopSpeaking(): Promise<void> {
    this.#audioIdle?.stop();
    if (!this.#speaking) return;
    this.#speaking = false;
    const now = this.clock.now();
    await this.broadcastFrame(() => new VADUserStoppedSpeakingFrame(this.analyzer.params.stopMs, now));
  }

  async #handleAudio(frame: InputAudioRawFrame, direction: FrameDirection): Promise<void> {
    this.#audioIdle?.activity();
    if (this.#accepts(frame)) await this.#analyze(frame);
    await this.pushFrame(frame, direction);
  }

  /** Reports the first failure of a run of analysis failures upstream; counts the rest. */
  #analysisFailed(error: unknown): void {
    const failure = new VADAnalysisError(
      `${this.name}: voice activity detection failed (${describe(error)}); audio is forwarded unanalysed`,
      { cause: error },
    );
    if (this.#repeats.occurred(ANALYSIS, failure.message)) void this.pushError(failure);
  }

  /** Whether the frame's rate can be analysed; sets the analyzer's rate from the first frame. */
  #accepts(frame: InputAudioRawFrame): boolean {
    const rate = frame.sampleRate;
    if (rate === this.#streamRate) return true;
    if (this.#streamRate === undefined && this.analyzer.supportsSampleRate(rate)) {
      this.analyzer.setSampleRate(rate);
      this.#streamRate = rate;
      return true;
    }
    const error =
      this.#streamRate === undefined
        ? new VADSampleRateError(this.analyzer.constructor.name, rate, this.analyzer.sampleRates)
        : new VADInputError(
            `${this.name}: the input sample rate changed mid-stream from ${this.#streamRate} Hz to ${rate} Hz; ` +
              `audio at ${rate} Hz is forwarded without voice activity detection. Keep one rate per stream ` +
              "(resample in the transport).",
          );
    if (this.#repeats.occurred(`rate:${rate}`, error.message)) void this.pushError(error);
    return false;
  }

  async #analyze(frame: InputAudioRawFrame): Promise<void> {
    const audio = frame.numChannels === 1 ? frame.audio : downmixToMono(frame.audio, frame.numChannels);
    if (this.#resetPending) {
      this.#resetPending = false;
      this.analyzer.reset();
    }
    let state: VADState;
    let transitions: readonly VADTransition[];
    try {
      let modelWindows: number;
      ({ state, transitions, modelWindows } = await this.clock.track(this.analyzer.analyze(audio)));
      // Only a model window that ran ends a run of failures: a chunk too short to complete a
      // window, or a quiet window the model was spared, says nothing about the model (counting
      // it as a success reported a missing model once per window).
      if (modelWindows > 0) this.#repeats.resolved(ANALYSIS);
    } catch (error) {
      this.#analysisFailed(error);
      return;
    }
    const params = this.analyzer.params;
    for (const t of transitions) {
      const now = this.clock.now();
      if (t.type === "started") {
        if (this.#speaking) continue;
        this.#speaking = true;
        this.#lastSpeakingAt = now;
        this.#audioIdle?.start();
        await this.broadcastFrame(() => new VADUserStartedSpeakingFrame(params.startMs, now));
      } else {
        await this.#stopSpeaking();
      }
    }
    if (state === VADState.SPEAKING && this.#speaking) {
      const now = this.clock.now();
      if (now - this.#lastSpeakingAt >= this.speakingIntervalMs) {
        this.#lastSpeakingAt = now;
        await this.broadcastFrame(() => new UserSpeakingFrame());
      }
    }
  }
}

/** The reporter's cause for model failures (loading or running): one run, one report. */
const ANALYSIS = "analysis";
