import { setImmediate as nextTurn } from "node:timers/promises";
import { VADInputError, VADSampleRateError } from "./vad-errors.js";
import { type VADParams, resolveVADParams } from "./vad-params.js";
import { VADState } from "./vad-state.js";
import { VADStateMachine } from "./vad-state-machine.js";
import { VolumeMeter } from "./volume-meter.js";

/**
 * One analyze call that runs this many windows yields an event-loop turn between windows, so a
 * long chunk given to a model that answers at once cannot starve timers and I/O (docs/design/clock.md).
 * 32 windows is about 1 s of audio; real-time chunks (10–40 ms) never reach it.
 */
const YIELD_EVERY_WINDOWS = 32;

/** A confirmed speech start or stop. Times are ms of stream time (audio analysed since the last reset). */
export interface VADTransition {
  /** `started`: STARTING → SPEAKING; `stopped`: STOPPING → QUIET. */
  readonly type: "started" | "stopped";
  /** End of the window that confirmed the transition, in ms of stream time. */
  readonly atMs: number;
  /**
   * For `started`, where the speech began (start of the first speech window of the run that
   * confirmed it); for `stopped`, where it ended (end of the last speech window). ms of stream time.
   */
  readonly speechMs: number;
}

/** The outcome of one {@link VADAnalyzer.analyze} call. */
export interface VADAnalysis {
  /** State after the last complete window (unchanged when the chunk completed no window). */
  readonly state: VADState;
  /** Starts and stops confirmed by the windows completed in this call, in order (often empty). */
  readonly transitions: readonly VADTransition[];
  /** Windows completed in this call (the model ran on each, or skipped it as too quiet to be speech). */
  readonly windows: number;
  /** Of {@link windows}, those the model ran on (the rest were skipped as too quiet to be speech). */
  readonly modelWindows: number;
}

/** Options common to every {@link VADAnalyzer}. */
export interface VADAnalyzerOptions {
  /** Initial parameters; missing ones take `DEFAULT_VAD_PARAMS`. */
  params?: Partial<VADParams>;
  /** Sample rate of the stream, in Hz. May also be set later with {@link VADAnalyzer.setSampleRate}. */
  sampleRate?: number;
  /**
   * Whether a window that cannot count as speech is kept from the model: one heard while QUIET
   * whose own volume and smoothed volume are both under `params.minVolume`. Speech needs the
   * smoothed volume at `minVolume` or more, so no decision changes; the model is spared its work
   * in every silence (in a conversation, most of the time, since the user is quiet while the bot
   * talks). The model's state is cleared before the next window it runs, as after its periodic
   * reset (docs/design/silero-vad.md). `false` runs the model on every window. @default true
   */
  skipQuietWindows?: boolean;
}

const NO_TRANSITIONS: readonly VADTransition[] = Object.freeze([]);

/**
 * Voice activity detection for one mono PCM16 stream (docs/design/silero-vad.md). Subclasses provide a model:
 * {@link sampleRates}, {@link windowSamples} and {@link voiceConfidence}; this base does the
 * rest: it cuts chunks of any size into model windows, measures volume ({@link VolumeMeter}),
 * decides speech per window (`confidence ≥ params.confidence && volume ≥ params.minVolume`) and
 * runs the {@link VADStateMachine}.
 *
 * Guarantees: it holds at most one window of leftover samples between calls, whatever the chunk
 * sizes (memory per stream is fixed once the sample rate is set); it never drops or reorders
 * samples; one analyzer is one stream's state, so use one per stream (models may share weights,
 * see `SileroVADAnalyzer`).
 *
 * Not safe for overlapping calls: await each {@link analyze} before the next (a second call
 * while one is running throws {@link VADInputError}).
 *
 * @example
 * const vad = new SileroVADAnalyzer({ sampleRate: 16000 });
 * for await (const chunk of mic) {
 *   const { transitions } = await vad.analyze(chunk);
 *   for (const t of transitions) console.log(t.type, t.speechMs);
 * }
 */
export abstract class VADAnalyzer {
  /** Sample rates (Hz) the model can analyse. */
  abstract readonly sampleRates: readonly number[];

  #params: VADParams;
  #sampleRate: number | undefined;
  #windowSize = 0;
  #window = new Float32Array(0);
  #fill = 0;
  /** Samples that went into completed windows since the last reset. */
  #consumed = 0;
  #machine = new VADStateMachine(1, 1);
  readonly #volume = new VolumeMeter();
  #runStart = 0;
  #lastSpeechEnd = 0;
  #lastConfidence = 0;
  #busy = false;
  #windowsTotal = 0;
  #windowsSkipped = 0;
  readonly #skipQuiet: boolean;

  /**
   * A sample rate given to the constructor, applied on first use: subclass fields (such as
   * {@link sampleRates}) do not exist yet while this constructor runs. Subclasses may apply it
   * at the end of their own constructor with `this.setSampleRate(rate)` to fail fast.
   */
  #pendingRate: number | undefined;

  constructor(options: VADAnalyzerOptions = {}) {
    this.#params = resolveVADParams(options.params);
    this.#pendingRate = options.sampleRate;
    this.#skipQuiet = options.skipQuietWindows ?? true;
  }

  /** Samples per model window at `sampleRate` (called only with a rate in {@link sampleRates}). */
  protected abstract windowSamples(sampleRate: number): number;

  /**
   * The model's confidence (0..1) that `window` (float samples in −1..1, exactly
   * {@link windowSamples} long) is speech. Called once per window, in stream order, never
   * concurrently. `window` is reused after the promise settles: copy what you keep.
   */
  protected abstract voiceConfidence(window: Float32Array): Promise<number>;

  /**
   * Clears the model's own per-stream state. Called by {@link reset} and when the sample rate
   * changes. The default does nothing.
   */
  protected resetModel(): void {}

  /**
   * A window kept from the model because it cannot count as speech (see
   * {@link VADAnalyzerOptions.skipQuietWindows}), in stream order between the
   * {@link voiceConfidence} calls. A model with memory of past windows can keep what it needs
   * of it (Silero keeps its last samples as context). The default does nothing.
   */
  protected skippedWindow(_window: Float32Array): void {}

  /**
   * Resolves when the model is loaded and {@link analyze} will not wait for it. Optional: the
   * first {@link analyze} loads the model anyway. Rejects if the model cannot be loaded. The
   * default resolves at once (models without a load step).
   */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  /** The parameters in force. */
  get params(): Readonly<VADParams> {
    return this.#params;
  }

  /**
   * Changes parameters at run time; missing ones keep their current value. Takes effect from
   * the next window; the state and the run counted so far are kept. Throws `InvalidOptionError`
   * for an out-of-range value (and changes nothing).
   */
  setParams(params: Partial<VADParams>): void {
    this.#params = resolveVADParams(params, this.#params);
    this.#configureMachine();
  }

  /** The stream's sample rate in Hz, once set. */
  get sampleRate(): number | undefined {
    this.#applyPendingRate();
    return this.#sampleRate;
  }

  /** Whether the model can analyse audio at `sampleRate` Hz. */
  supportsSampleRate(sampleRate: number): boolean {
    return this.sampleRates.includes(sampleRate);
  }

  /**
   * Sets the stream's sample rate. Setting the rate in force does nothing; a new rate resets the
   * analyzer (buffer, state, model state). Throws {@link VADSampleRateError} if unsupported.
   */
  setSampleRate(sampleRate: number): void {
    this.#pendingRate = undefined;
    if (sampleRate === this.#sampleRate) return;
    if (!this.supportsSampleRate(sampleRate)) {
      throw new VADSampleRateError(this.constructor.name, sampleRate, this.sampleRates);
    }
    this.#sampleRate = sampleRate;
    this.#windowSize = this.windowSamples(sampleRate);
    this.#window = new Float32Array(this.#windowSize);
    this.reset();
  }

  /** Samples per model window at the current rate (0 before the rate is set). */
  get windowSize(): number {
    this.#applyPendingRate();
    return this.#windowSize;
  }

  /** Duration of one model window, in ms (0 before the rate is set). */
  get windowMs(): number {
    const rate = this.sampleRate;
    return rate ? (this.#windowSize * 1000) / rate : 0;
  }

  /** The current state (after the last complete window). */
  get state(): VADState {
    return this.#machine.state;
  }

  /** Speech windows needed for a start, and silence windows for a stop, at the current rate and params. */
  get windowCounts(): { start: number; stop: number } {
    return { start: this.#machine.startWindows, stop: this.#machine.stopWindows };
  }

  /** Samples held back until the next window completes: always less than {@link windowSize}. */
  get bufferedSamples(): number {
    return this.#fill;
  }

  /** Stream time analysed so far (completed windows since the last reset), in ms. */
  get streamMs(): number {
    const rate = this.#sampleRate;
    return rate ? (this.#consumed * 1000) / rate : 0;
  }

  /** Model confidence of the last window (0 before the first, and after a skipped quiet window). */
  get lastConfidence(): number {
    return this.#lastConfidence;
  }

  /** Smoothed volume after the last window, 0..1 (see {@link VolumeMeter}). */
  get lastVolume(): number {
    return this.#volume.volume;
  }

  /** Windows analysed since the analyzer was created (never reset), skipped ones included. */
  get windowsAnalyzed(): number {
    return this.#windowsTotal;
  }

  /**
   * Windows of {@link windowsAnalyzed} not given to the model because they could not count as
   * speech ({@link VADAnalyzerOptions.skipQuietWindows}).
   */
  get windowsSkipped(): number {
    return this.#windowsSkipped;
  }

  /**
   * Forgets the stream: drops buffered samples, returns to QUIET, restarts stream time at 0
   * and clears the model's state. Keeps the sample rate and params. Call between analyze calls.
   */
  reset(): void {
    this.#fill = 0;
    this.#consumed = 0;
    this.#runStart = 0;
    this.#lastSpeechEnd = 0;
    this.#lastConfidence = 0;
    this.#volume.reset();
    this.#configureMachine();
    this.#machine.reset();
    this.resetModel();
  }

  /**
   * Analyses a chunk of mono PCM16 audio of any length (continuing the stream). Runs the model
   * on every window the chunk completes and returns the state after them, with any starts and
   * stops they confirmed. Rejects with {@link VADInputError} for a non-`Int16Array` chunk, before
   * the sample rate is set, or while another call is running; with the model's error if the
   * model fails (the window is then lost, the stream stays usable).
   */
  async analyze(chunk: Int16Array): Promise<VADAnalysis> {
    if (!(chunk instanceof Int16Array)) {
      throw new VADInputError(
        `${this.constructor.name}.analyze: expected an Int16Array of mono PCM16 samples ` +
          `(got ${Object.prototype.toString.call(chunk)}); convert a Buffer with ` +
          "new Int16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2)",
      );
    }
    this.#applyPendingRate();
    if (this.#sampleRate === undefined) {
      throw new VADInputError(
        `${this.constructor.name}.analyze: the sample rate is not set; pass { sampleRate } to the ` +
          "constructor or call setSampleRate() first",
      );
    }
    if (this.#busy) {
      throw new VADInputError(
        `${this.constructor.name}.analyze was called while a previous call was still running; ` +
          "await each call (an analyzer holds one stream's state, in order)",
      );
    }
    this.#busy = true;
    try {
      return await this.#analyze(chunk);
    } finally {
      this.#busy = false;
    }
  }

  async #analyze(chunk: Int16Array): Promise<VADAnalysis> {
    let transitions: VADTransition[] | undefined;
    let windows = 0;
    const skippedBefore = this.#windowsSkipped;
    let offset = 0;
    while (offset < chunk.length) {
      const window = this.#window;
      const size = this.#windowSize;
      const take = Math.min(size - this.#fill, chunk.length - offset);
      for (let i = 0; i < take; i++) window[this.#fill + i] = chunk[offset + i]! / 32768;
      this.#fill += take;
      offset += take;
      if (this.#fill < size) break;
      this.#fill = 0;
      const step = await this.#runWindow(window, size);
      if (step) (transitions ??= []).push(step);
      if (++windows % YIELD_EVERY_WINDOWS === 0) await nextTurn();
    }
    const modelWindows = windows - (this.#windowsSkipped - skippedBefore);
    return { state: this.#machine.state, transitions: transitions ?? NO_TRANSITIONS, windows, modelWindows };
  }

  async #runWindow(window: Float32Array, size: number): Promise<VADTransition | undefined> {
    const startSample = this.#consumed;
    const volume = this.#volume.measure(window);
    const params = this.#params;
    if (
      this.#skipQuiet &&
      volume < params.minVolume &&
      this.#machine.state === VADState.QUIET &&
      this.#volume.lastWindowVolume < params.minVolume
    ) {
      // Not speech whatever the model says, and not the onset of any: the model is not asked.
      this.skippedWindow(window);
      this.#consumed += size;
      this.#windowsTotal++;
      this.#windowsSkipped++;
      this.#lastConfidence = 0;
      return undefined;
    }
    let confidence: number;
    try {
      confidence = await this.voiceConfidence(window);
    } finally {
      // A failed window still advances stream time, so later times stay true to the audio.
      this.#consumed += size;
      this.#windowsTotal++;
    }
    this.#lastConfidence = confidence;
    const speech = confidence >= params.confidence && volume >= params.minVolume;
    const before = this.#machine.state;
    if (speech) {
      if (before === VADState.QUIET) this.#runStart = startSample;
      this.#lastSpeechEnd = this.#consumed;
    }
    const step = this.#machine.step(speech);
    if (!step) return undefined;
    const rate = this.#sampleRate!;
    const atMs = (this.#consumed * 1000) / rate;
    const speechSample = step === "started" ? this.#runStart : this.#lastSpeechEnd;
    return { type: step, atMs, speechMs: (speechSample * 1000) / rate };
  }

  #configureMachine(): void {
    const windowMs = this.windowMs;
    if (windowMs === 0) return;
    this.#machine.configure(this.#params.startMs / windowMs, this.#params.stopMs / windowMs);
  }

  #applyPendingRate(): void {
    if (this.#pendingRate !== undefined) this.setSampleRate(this.#pendingRate);
  }
}
