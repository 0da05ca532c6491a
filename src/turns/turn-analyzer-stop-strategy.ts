import { AudioConverter } from "../audio/audio-converter.js";
import type { TurnAnalyzer, TurnVerdict } from "../audio/turn/turn-analyzer.js";
import type { TimerHandle } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { InvalidOptionError, describe } from "../errors.js";
import type { InputAudioRawFrame } from "../frames/audio.js";
import { AudioPreroll } from "./audio-preroll.js";
import { UserTurnStopStrategy } from "./stop-strategies.js";
import { type TurnInput, checkMs } from "./turn-strategy.js";

/** Options of {@link TurnAnalyzerStopStrategy}. */
export interface TurnAnalyzerStopOptions {
  /** The end-of-turn model (one per stream: it holds the turn's audio). */
  analyzer: TurnAnalyzer;
  /**
   * After the VAD stop, the turn ends this long later unless the analyzer said `complete`
   * first or the user spoke again (an incomplete verdict, an analyzer error or its deadline all
   * leave the turn to this timer). ms, 0 … 30000. @default 3000
   */
  fallbackTimeoutMs?: number;
  /** Longest one analysis may take, in ms (10 … 10000); past it the fallback decides. @default 1000 */
  analyzeTimeoutMs?: number;
  /**
   * Audio kept from before the VAD start and given to the analyzer with the turn, in ms
   * (0 … 5000): the VAD confirms speech only after its `startMs`, and a model that misses the
   * first syllables guesses on short utterances. @default 800
   */
  prerollMs?: number;
  /** Longest wait for the analyzer's `load()` at the start, in ms (≤ 120000). @default 30000 */
  loadTimeoutMs?: number;
}

/** What a {@link TurnAnalyzerStopStrategy} did, for tests and metrics. */
export interface TurnAnalyzerStats {
  analyses: number;
  complete: number;
  incomplete: number;
  /** Analyses that failed or passed `analyzeTimeoutMs`. */
  failures: number;
  /** Turns ended by the fallback timer. */
  fallbacks: number;
  /** The last verdict. */
  lastVerdict: TurnVerdict | undefined;
}

/**
 * Ends the turn when an end-of-turn model (a {@link TurnAnalyzer}, e.g. Smart Turn) says the
 * user finished. The analyzer is fed the user's audio as it arrives, from the first VAD start
 * after the last turn (with `prerollMs` of audio from just before it) until the turn ends, all
 * VAD segments of the turn included; it is cleared when the turn ends. At each VAD stop in a
 * turn (or at a turn's start if the VAD is already silent) the analyzer is asked, within
 * `analyzeTimeoutMs`:
 *
 * - `complete` ends the turn;
 * - incomplete waits: more speech (a VAD start) cancels the wait and the next stop asks again,
 *   with the whole turn's audio; else the fallback timer, started at the VAD stop, ends the turn
 *   `fallbackTimeoutMs` after it.
 * - An error or a missed deadline is said once per kind (repeats counted) and leaves the turn to
 *   the fallback timer.
 *
 * A VAD start aborts an analysis in flight; a verdict that comes after its turn moved on is
 * ignored. Memory: the preroll is bounded by `prerollMs`, the analyzer's window by its contract.
 */
export class TurnAnalyzerStopStrategy extends UserTurnStopStrategy {
  readonly analyzer: TurnAnalyzer;
  readonly fallbackTimeoutMs: number;
  readonly analyzeTimeoutMs: number;
  readonly prerollMs: number;
  readonly loadTimeoutMs: number;
  readonly stats: TurnAnalyzerStats = {
    analyses: 0,
    complete: 0,
    incomplete: 0,
    failures: 0,
    fallbacks: 0,
    lastVerdict: undefined,
  };
  readonly #preroll: AudioPreroll;
  #collecting = false;
  #converter: AudioConverter | undefined;
  #fallback: TimerHandle | undefined;
  #analysis: AbortController | undefined;

  constructor(options: TurnAnalyzerStopOptions) {
    super();
    const owner = "TurnAnalyzerStopStrategy";
    const analyzer = options?.analyzer;
    if (
      typeof analyzer?.analyze !== "function" ||
      typeof analyzer.appendAudio !== "function" ||
      typeof analyzer.clear !== "function" ||
      !Number.isInteger(analyzer.sampleRate) ||
      analyzer.sampleRate < 8000
    ) {
      throw new InvalidOptionError(
        `${owner}: analyzer must be a TurnAnalyzer (appendAudio, analyze, clear and a whole sampleRate ≥ 8000 Hz), ` +
          `e.g. a Smart Turn runner (got ${analyzer === null ? "null" : typeof analyzer})`,
      );
    }
    this.analyzer = analyzer;
    this.fallbackTimeoutMs = checkMs(
      owner,
      "fallbackTimeoutMs",
      options.fallbackTimeoutMs ?? 3000,
      0,
      30_000,
    );
    this.analyzeTimeoutMs = checkMs(owner, "analyzeTimeoutMs", options.analyzeTimeoutMs ?? 1000, 10, 10_000);
    this.prerollMs = checkMs(owner, "prerollMs", options.prerollMs ?? 800, 0, 5000);
    this.loadTimeoutMs = checkMs(owner, "loadTimeoutMs", options.loadTimeoutMs ?? 30_000, 0, 120_000);
    this.#preroll = new AudioPreroll(this.prerollMs, analyzer.sampleRate);
  }

  override get maxWaitMs(): number {
    return this.fallbackTimeoutMs;
  }

  override get wantsAudio(): boolean {
    return true;
  }

  override async start(signal: AbortSignal): Promise<void> {
    const load = this.analyzer.load;
    if (!load) return;
    try {
      await deadline(
        this.host.clock,
        (s) => load.call(this.analyzer, AbortSignal.any([s, signal])),
        this.loadTimeoutMs,
        `${this.host.name}: loading the turn analyzer`,
        { io: true, signal },
      );
    } catch (error) {
      if (signal.aborted) return;
      this.host.reportOnce(
        "analyzer-load",
        () =>
          `${this.host.name}: the turn analyzer did not load (${describe(error)}); every turn will end on the ` +
          `fallback, ${this.fallbackTimeoutMs} ms after the user stops`,
      );
    }
  }

  override async onAudio(frame: InputAudioRawFrame): Promise<void> {
    const audio = await this.#toAnalyzerRate(frame);
    if (audio === undefined || audio.length === 0) return;
    if (this.#collecting) this.analyzer.appendAudio(audio, this.host.vadSpeaking);
    else this.#preroll.push(audio);
  }

  override onInput(input: TurnInput): void {
    if (input.kind === "vad-started") {
      this.#stopWaiting();
      if (!this.#collecting) {
        this.#collecting = true;
        this.#preroll.drain((chunk) => this.analyzer.appendAudio(chunk, false));
      }
    } else if (input.kind === "vad-stopped" && this.host.inTurn) {
      this.#evaluate();
    }
  }

  override onTurnStarted(): void {
    if (!this.host.vadSpeaking) this.#evaluate();
  }

  override onTurnEnded(): void {
    this.#stopWaiting();
    this.#collecting = false;
    this.analyzer.clear();
  }

  override async stop(): Promise<void> {
    this.#stopWaiting();
    this.#collecting = false;
    this.#preroll.clear();
    this.#converter?.dispose();
    this.#converter = undefined;
    try {
      await this.analyzer.release?.();
    } catch (error) {
      this.host.logger.warn(`${this.host.name}: releasing the turn analyzer failed: ${describe(error)}`);
    }
  }

  /** Starts the fallback timer and asks the analyzer about the turn heard so far. */
  #evaluate(): void {
    this.#stopWaiting();
    const { clock, name } = this.host;
    this.#fallback = clock.setTimer(() => {
      this.#fallback = undefined;
      this.stats.fallbacks++;
      this.host.endTurn(
        this.name,
        `no complete verdict within fallbackTimeoutMs (${this.fallbackTimeoutMs} ms)`,
      );
    }, this.fallbackTimeoutMs);
    const mine = new AbortController();
    this.#analysis = mine;
    this.stats.analyses++;
    deadline(
      clock,
      (s) => this.analyzer.analyze(s).then((verdict) => checkedVerdict(verdict)),
      this.analyzeTimeoutMs,
      `${name}: the turn analyzer`,
      { io: true, signal: mine.signal },
    ).then(
      (verdict) => {
        if (mine.signal.aborted) return; // the user spoke again, or the turn ended meanwhile
        this.#analysis = undefined;
        this.stats.lastVerdict = verdict;
        if (verdict.complete) {
          this.stats.complete++;
          this.host.endTurn(
            this.name,
            `the turn analyzer says complete (p=${verdict.probability.toFixed(2)})`,
          );
        } else {
          this.stats.incomplete++;
        }
      },
      (error: unknown) => {
        if (mine.signal.aborted) return;
        this.#analysis = undefined;
        this.stats.failures++;
        const cause = error instanceof DeadlineExceededError ? "analyzer-deadline" : "analyzer-error";
        this.host.reportOnce(
          cause,
          () =>
            `${name}: ${error instanceof DeadlineExceededError ? `the turn analyzer took longer than analyzeTimeoutMs (${this.analyzeTimeoutMs} ms)` : `the turn analyzer failed (${describe(error)})`}; ` +
            `the turn ends on the fallback, ${this.fallbackTimeoutMs} ms after the user stopped`,
        );
      },
    );
  }

  #stopWaiting(): void {
    this.#fallback?.cancel();
    this.#fallback = undefined;
    this.#analysis?.abort(new Error("the user spoke again or the turn ended"));
    this.#analysis = undefined;
  }

  async #toAnalyzerRate(frame: InputAudioRawFrame): Promise<Int16Array | undefined> {
    const rate = this.analyzer.sampleRate;
    if (frame.sampleRate === rate && frame.numChannels === 1) return frame.audio;
    try {
      this.#converter ??= new AudioConverter({ outRate: rate, outChannels: 1, clock: this.host.clock });
      if (!this.#converter.accepts(frame.sampleRate, frame.numChannels))
        await this.#converter.prepare(frame.sampleRate, frame.numChannels);
      return this.#converter.convert(frame.audio, frame.sampleRate, frame.numChannels);
    } catch (error) {
      this.host.reportOnce(
        `analyzer-rate:${frame.sampleRate}`,
        () =>
          `${this.host.name}: cannot convert ${frame.sampleRate} Hz × ${frame.numChannels} audio to the turn ` +
          `analyzer's ${rate} Hz mono (${describe(error)}); that audio is not analysed`,
      );
      return undefined;
    }
  }
}

/**
 * The analyzer's verdict, checked: an analyzer is user code. A verdict that says nothing
 * (`null`, no boolean `complete`) is an analyzer failure (said once, the fallback ends the turn),
 * not a throw in the middle of deciding the turn; a verdict with a `complete` is followed even
 * when its probability or timing is missing (they are only reported, as NaN).
 */
function checkedVerdict(verdict: unknown): TurnVerdict {
  const v = verdict as Partial<TurnVerdict> | null | undefined;
  if (typeof v !== "object" || v === null || typeof v.complete !== "boolean") {
    throw new TypeError(
      `its verdict must be { complete: boolean, probability: number, inferenceMs: number } (got ${describeVerdict(verdict)})`,
    );
  }
  const number = (x: unknown): number => (typeof x === "number" ? x : Number.NaN);
  return { complete: v.complete, probability: number(v.probability), inferenceMs: number(v.inferenceMs) };
}

function describeVerdict(verdict: unknown): string {
  try {
    return JSON.stringify(verdict)?.slice(0, 80) ?? String(verdict);
  } catch {
    return typeof verdict;
  }
}
