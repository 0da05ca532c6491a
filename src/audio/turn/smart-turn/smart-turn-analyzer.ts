import type { Clock } from "../../../clock/clock.js";
import { deadline } from "../../../clock/deadline.js";
import { SystemClock } from "../../../clock/system-clock.js";
import { InvalidOptionError } from "../../../errors.js";
import {
  type OnnxRuntimePackage,
  checkOnnxRuntime,
  preferredOnnxRuntime,
} from "../../onnx/onnx-runtime-package.js";
import type { TurnAnalyzer, TurnVerdict } from "../turn-analyzer.js";
import { SmartTurnAnalysisError, SmartTurnInputError } from "./smart-turn-errors.js";
import { SmartTurnWorker } from "./smart-turn-worker.js";
import { TurnAudioWindow } from "./turn-audio-window.js";
import {
  SMART_TURN_FRAMES,
  SMART_TURN_SAMPLES,
  WHISPER_N_MELS,
  WHISPER_SAMPLE_RATE,
  WhisperFeatureExtractor,
} from "./whisper-features.js";

/** The model's input: Whisper log-mel features of the last 8 s. */
export const SMART_TURN_INPUT = {
  name: "input_features",
  dims: [1, WHISPER_N_MELS, SMART_TURN_FRAMES],
} as const;

/** Options of {@link SmartTurnAnalyzer}. */
export interface SmartTurnAnalyzerOptions {
  /**
   * Path of a Smart Turn v3 `.onnx` file (e.g. `smart-turn-v3.2-cpu.onnx`, BSD-2-Clause, from the
   * pipecat-ai/smart-turn-v3 model repository). Required: voicepipe does not ship the model.
   * Analyzers with the same path share one session.
   */
  modelPath: string;
  /** A turn is complete when the model's probability is above this. @default 0.5 (as Smart Turn's own inference code) */
  threshold?: number;
  /**
   * Quiet audio kept from before the turn's first speech, in ms, so the model hears the onset
   * the VAD confirmed late (Pipecat keeps 500 ms plus the VAD's start delay). @default 700
   */
  preSpeechMs?: number;
  /**
   * Deadline of one {@link SmartTurnAnalyzer.analyze} (features and inference), in ms of the
   * analyzer's clock; real time for the model run itself. @default 2000
   */
  timeoutMs?: number;
  /** Deadline of the model load (starting the runtime and compiling the model), in ms. @default 30000 */
  loadTimeoutMs?: number;
  /**
   * The package that runs the model, as for Silero (docs/design/silero-vad.md).
   * @default "onnxruntime-node" when the application has installed it, else "onnxruntime-web"
   */
  runtime?: OnnxRuntimePackage;
  /** The clock that times analyses (`inferenceMs`) and their deadlines. @default a new SystemClock */
  clock?: Clock;
}

/**
 * Smart Turn v3 (Pipecat's end-of-turn model, BSD-2-Clause) as a {@link TurnAnalyzer}. Import it
 * from `voicepipe/audio/turn/smart-turn`. The user gives the model file; the runtime is the same
 * optional peer dependency as Silero's (`onnxruntime-web` by default).
 *
 * - **Audio.** {@link appendAudio} takes 16 kHz mono PCM16 and keeps the newest 8 s of the turn
 *   (plus up to `preSpeechMs` of the quiet before its first speech): a fixed 256 KB ring, whatever
 *   the turn's length. {@link analyze} pads it at the start with zeros to 8 s, as the model was
 *   trained.
 * - **Features** (Whisper log-mel, 80 × 800) are computed on the calling thread in slices of
 *   1 s with an event-loop turn between them; **inference** runs on one worker thread per runtime,
 *   shared by every analyzer of the process, with one session per model file
 *   ({@link SmartTurnWorker}).
 * - **Deadlines.** {@link analyze} settles within `timeoutMs`: it resolves with a verdict, or
 *   rejects with a `DeadlineExceededError`, a {@link SmartTurnAnalysisError} or
 *   {@link SmartTurnModelLoadError}, or with `signal.reason` once `signal` aborts.
 * - **Failures.** A model that cannot be loaded gives one `SmartTurnModelLoadError` naming the
 *   path and the fix; the analyzer keeps it (later analyses reject with it at once, without
 *   touching the disk) until {@link load} is called again.
 *
 * @example
 * import { SmartTurnAnalyzer } from "voicepipe/audio/turn/smart-turn";
 * const turn = new SmartTurnAnalyzer({ modelPath: "/models/smart-turn-v3.2-cpu.onnx" });
 * await turn.load(AbortSignal.timeout(30_000));         // optional: load now, not at the first turn
 * turn.appendAudio(pcm16, isSpeech);                    // every input chunk of the user's turn
 * const { complete, probability } = await turn.analyze(signal); // when the VAD hears the user stop
 * turn.clear();                                         // when the turn ends
 */
export class SmartTurnAnalyzer implements TurnAnalyzer {
  /** The model's rate: audio must be resampled to 16 kHz before {@link appendAudio}. */
  readonly sampleRate = WHISPER_SAMPLE_RATE;
  readonly modelPath: string;
  readonly threshold: number;
  readonly timeoutMs: number;
  readonly loadTimeoutMs: number;
  readonly runtime: OnnxRuntimePackage;
  #clock: Clock;
  readonly #window: TurnAudioWindow;
  readonly #features = new WhisperFeatureExtractor();
  readonly #worker: SmartTurnWorker;
  #loading: Promise<void> | undefined;
  /** The load failed: kept until {@link load} is called again. */
  #loadFailure: unknown;
  #holding = false;
  /** Analyses done. */
  analyses = 0;

  constructor(options: SmartTurnAnalyzerOptions) {
    const o = options as Partial<SmartTurnAnalyzerOptions> | undefined;
    if (typeof o?.modelPath !== "string" || o.modelPath === "") {
      throw new InvalidOptionError(
        "SmartTurnAnalyzer: modelPath is required: the path of a Smart Turn v3 .onnx file (e.g. smart-turn-v3.2-cpu.onnx " +
          "from the pipecat-ai/smart-turn-v3 model repository); voicepipe does not ship the model.",
      );
    }
    this.modelPath = o.modelPath;
    this.threshold = o.threshold ?? 0.5;
    if (!(this.threshold > 0 && this.threshold < 1)) {
      throw new InvalidOptionError(
        `SmartTurnAnalyzer: threshold must be a probability between 0 and 1, exclusive (got ${o.threshold})`,
      );
    }
    const preSpeechMs = o.preSpeechMs ?? 700;
    this.timeoutMs = o.timeoutMs ?? 2_000;
    this.loadTimeoutMs = o.loadTimeoutMs ?? 30_000;
    for (const [name, value, max] of [
      ["preSpeechMs", preSpeechMs, 8_000],
      ["timeoutMs", this.timeoutMs, Infinity],
      ["loadTimeoutMs", this.loadTimeoutMs, Infinity],
    ] as const) {
      if (!Number.isFinite(value) || value < 0 || value > max || (name !== "preSpeechMs" && value === 0)) {
        throw new InvalidOptionError(
          `SmartTurnAnalyzer: ${name} must be a finite number of ms${name === "preSpeechMs" ? " from 0 to 8000" : " above 0"} (got ${value})`,
        );
      }
    }
    this.runtime = checkOnnxRuntime(o.runtime ?? preferredOnnxRuntime(), "SmartTurnAnalyzer");
    this.#clock = o.clock ?? new SystemClock();
    this.#window = new TurnAudioWindow(
      SMART_TURN_SAMPLES,
      Math.round((preSpeechMs * WHISPER_SAMPLE_RATE) / 1000),
    );
    this.#worker = SmartTurnWorker.shared(this.runtime);
  }

  /** Uses `clock` from now on (a stop strategy hands over its task's clock at start). */
  setClock(clock: Clock): void {
    this.#clock = clock;
  }

  /** Samples of the turn held now (at most 8 s' worth). */
  get bufferedSamples(): number {
    return this.#window.length;
  }

  appendAudio(audio: Int16Array, isSpeech: boolean): void {
    if (!(audio instanceof Int16Array)) {
      throw new SmartTurnInputError(
        `SmartTurnAnalyzer: appendAudio takes mono 16-bit PCM at 16 kHz as an Int16Array (got ${describe(audio)}); convert it first`,
      );
    }
    this.#window.append(audio, isSpeech);
  }

  clear(): void {
    this.#window.clear();
  }

  /**
   * Loads the model in the shared worker (once; later calls return the same promise, unless the
   * load failed: then a call retries). Settles within `loadTimeoutMs`, or with `signal.reason`.
   */
  load(signal?: AbortSignal): Promise<void> {
    if (this.#loading && this.#loadFailure === undefined) return this.#loading;
    this.#loadFailure = undefined;
    const loading = deadline(
      this.#clock,
      this.#worker.acquire(this.modelPath, SMART_TURN_INPUT, this.loadTimeoutMs).then(() => {
        this.#holding = true;
      }),
      this.loadTimeoutMs,
      `SmartTurnAnalyzer: loading ${this.modelPath}`,
      { io: true, signal },
    );
    this.#loading = loading;
    loading.catch((error: unknown) => {
      if (this.#loading !== loading) return;
      if (signal?.aborted && error === signal.reason)
        this.#loading = undefined; // aborted: not a verdict on the model
      else this.#loadFailure = error;
    });
    return loading;
  }

  /**
   * Decides whether the turn heard since the last {@link clear} is complete, from its last 8 s.
   * Rejects with a {@link SmartTurnInputError} when no audio was appended, with the load's error
   * when the model cannot be loaded, with `DeadlineExceededError` past `timeoutMs`, or with
   * `signal.reason` once `signal` aborts.
   */
  async analyze(signal: AbortSignal): Promise<TurnVerdict> {
    signal.throwIfAborted();
    if (this.#loadFailure !== undefined) throw this.#loadFailure;
    if (this.#window.length === 0) {
      throw new SmartTurnInputError(
        "SmartTurnAnalyzer: analyze() was called with no audio of the turn; appendAudio() the user's audio first",
      );
    }
    const audio = this.#window.copyPadded(); // a snapshot: appends during the analysis go to the next one
    const clock = this.#clock;
    const started = clock.now();
    if (!this.#worker.held().has(this.modelPath)) this.#loading = undefined; // the worker restarted or was released
    await this.load(signal);
    const probability = await deadline(
      clock,
      async (inner) => {
        // Overlapping analyses of one analyzer (new speech while one runs) each get scratch buffers.
        const extractor = this.#features.busy ? new WhisperFeatureExtractor() : this.#features;
        const features = await extractor.extractAsync(audio, { signal: inner });
        inner.throwIfAborted();
        const output = await this.#worker.run(
          this.modelPath,
          { ...SMART_TURN_INPUT, data: features },
          this.timeoutMs,
        );
        return probabilityOf(output.data, this.modelPath);
      },
      this.timeoutMs,
      `SmartTurnAnalyzer: analysing the turn with ${this.modelPath}`,
      { io: true, signal },
    );
    this.analyses++;
    return { complete: probability > this.threshold, probability, inferenceMs: clock.now() - started };
  }

  /** Gives back this analyzer's hold on the shared model; the last holder's release stops the worker. Idempotent. */
  async release(): Promise<void> {
    const holding = this.#holding;
    this.#holding = false;
    this.#loading = undefined;
    this.#window.clear();
    if (holding) await this.#worker.releaseModel(this.modelPath);
  }
}

function probabilityOf(data: Float32Array, modelPath: string): number {
  const p = data[0];
  if (data.length !== 1 || p === undefined || !(p >= 0 && p <= 1)) {
    throw new SmartTurnAnalysisError(
      `Smart Turn: ${modelPath} answered [${[...data.subarray(0, 4)].join(", ")}${data.length > 4 ? ", …" : ""}] ` +
        "where a Smart Turn v3 model gives one probability (a sigmoid output of shape [1, 1]); check that the file is a Smart Turn v3 model.",
    );
  }
  return p;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return (value as object).constructor?.name ?? typeof value;
}
