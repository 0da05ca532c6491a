import type * as Ort from "onnxruntime-web";
import { setImmediate as nextTurn } from "node:timers/promises";
import { InvalidOptionError } from "../../errors.js";
import { defaultSileroModelPath } from "./silero-model.js";
import { checkOnnxRuntime, preferredOnnxRuntime } from "../onnx/onnx-runtime-package.js";
import type { SileroRuntime } from "./silero-runtime.js";
import { type SileroSession, loadSileroSession } from "./silero-session.js";
import { SileroWorker } from "./silero-worker.js";
import { VADAnalyzer, type VADAnalyzerOptions } from "./vad-analyzer.js";
import { VADAnalysisError } from "./vad-errors.js";
import { VADState } from "./vad-state.js";

/** Options of {@link SileroVADAnalyzer}. */
export interface SileroVADAnalyzerOptions extends VADAnalyzerOptions {
  /**
   * A Silero VAD v5 `.onnx` file. Analyzers with the same path share one session.
   * @default the model shipped with voicepipe, `models/silero_vad_v5.onnx` (MIT licence)
   */
  modelPath?: string;
  /**
   * Audio between resets of the model's recurrent state, in ms of stream time (Pipecat resets
   * every 5 s). A due reset waits until the analyzer is QUIET, so it never cuts into speech.
   * `0` turns resets off. @default 5000
   */
  resetIntervalMs?: number;
  /**
   * Where inference runs. `"worker"`: on a worker thread shared by every analyzer of this
   * thread, so the event loop stays free (the runtime runs a model synchronously on the thread
   * that calls it), with the windows of streams that ask together run as one batch.
   * `"this-thread"`: on the thread that made the analyzer, one window per run: no message round
   * trip to another thread, but each window blocks this event loop for its run (onnxruntime-node
   * about 0.2 ms, onnxruntime-web about 1 ms).
   * @default "worker"
   */
  inference?: SileroInference;
  /**
   * The package that runs the model: `"onnxruntime-web"` (WebAssembly; installs with no script)
   * or `"onnxruntime-node"` (native, several times cheaper per window, but its install script
   * must be told to skip its downloads: see docs/design/silero-vad.md). Either is an optional
   * peer dependency that the application installs.
   * @default "onnxruntime-node" when the application has installed it, else "onnxruntime-web"
   */
  runtime?: SileroRuntime;
}

/** Where a {@link SileroVADAnalyzer} runs the model (see {@link SileroVADAnalyzerOptions.inference}). */
export type SileroInference = "worker" | "this-thread";

/** Samples per window and of context per call, by sample rate. */
const GEOMETRY: Readonly<Record<number, { window: number; context: number }>> = {
  16000: { window: 512, context: 64 },
  8000: { window: 256, context: 32 },
};

/** Size of Silero v5's recurrent state, `[2, 1, 128]`. */
const STATE_SIZE = 2 * 128;

/**
 * Silero VAD v5 (MIT licence): 16 kHz (512-sample, 32 ms windows) or 8 kHz (256-sample, 32 ms
 * windows). Import it from `voicepipe/audio/vad/silero`. The model file ships with voicepipe;
 * the runtime is an optional peer dependency: `onnxruntime-web` by default (WebAssembly: it
 * installs with no script and downloads nothing; `npm install onnxruntime-web`), or
 * `onnxruntime-node` when the application has installed it or asks for it (native, cheaper per
 * window). Why these runtimes, and what each costs, is in docs/design/silero-vad.md.
 *
 * **Sharing.** The model is loaded once per process (per model path) on first use and shared by
 * every analyzer. Each analyzer owns only its stream's state: the recurrent state `[2, 1, 128]`
 * and the last 64 (8 kHz: 32) samples of context, about 3 KB. So sessions are cheap.
 *
 * **Threads.** By default inference runs on one worker thread shared by every analyzer of the
 * thread ({@link SileroWorker}): windows asked for in the same event-loop turn go
 * to it as one batch and one model run, and the event loop only copies a window in and a result
 * out. One analyzer runs its windows one at a time, so timers and I/O get a turn between windows.
 * `inference: "this-thread"` runs each window on the analyzer's own thread instead (the main
 * thread, or the worker thread it was made on), which blocks that event loop for the run: for a
 * tool that analyses one file, not for a server.
 *
 * **Resets.** The recurrent state and context are zeroed every `resetIntervalMs` of audio
 * (default 5 s, as Pipecat does), once the stream is QUIET. The memory held never grows either
 * way: state and context are fixed-size buffers, refilled in place after every window.
 *
 * **Failures.** A model or runtime that cannot be loaded rejects {@link ready} (and the first
 * window) with a `VADModelLoadError` that says what is missing, where it looked and what to do.
 * The analyzer remembers that failure: later windows reject with the same error at once, without
 * touching the disk again, until {@link ready} is called again to retry.
 *
 * @example
 * import { SileroVADAnalyzer } from "voicepipe/audio/vad/silero";
 * const vad = new SileroVADAnalyzer({ sampleRate: 16000, params: { stopMs: 300 } });
 * await vad.ready();                                   // optional: load the model now
 * const { state, transitions } = await vad.analyze(pcm16Chunk);
 */
export class SileroVADAnalyzer extends VADAnalyzer {
  /** 8 and 16 kHz. */
  readonly sampleRates: readonly number[] = [8000, 16000];
  /** The model file, or `undefined` for the default (resolved when loading). */
  readonly modelPath: string | undefined;
  /** Stream time between model-state resets, in ms (0: never). */
  readonly resetIntervalMs: number;

  /** Where inference runs (see {@link SileroVADAnalyzerOptions.inference}). */
  readonly inference: SileroInference;
  /** The package that runs the model (see {@link SileroVADAnalyzerOptions.runtime}). */
  readonly runtime: SileroRuntime;
  #model: SileroSession | undefined;
  #workerModel: string | undefined;
  readonly #state = new Float32Array(STATE_SIZE);
  /** Windows were skipped since the last run: the recurrent state no longer follows the stream. */
  #stateStale = false;
  #input = new Float32Array(0);
  #context = 0;
  #tensors: { input: Ort.Tensor; state: Ort.Tensor; sr: Ort.Tensor } | undefined;
  #sinceReset = 0;
  #resets = 0;
  /** Why the model could not be loaded, kept until {@link ready} is called again. */
  #loadFailure: unknown;

  constructor(options: SileroVADAnalyzerOptions = {}) {
    super(options);
    this.modelPath = options.modelPath;
    this.resetIntervalMs = options.resetIntervalMs ?? 5000;
    this.runtime = checkOnnxRuntime(options.runtime ?? preferredOnnxRuntime(), "SileroVADAnalyzer");
    this.inference = options.inference ?? "worker";
    if (this.inference !== "worker" && this.inference !== "this-thread") {
      throw new InvalidOptionError(
        `SileroVADAnalyzer: inference must be "worker" or "this-thread" (got ${String(options.inference)})`,
      );
    }
    if (!Number.isFinite(this.resetIntervalMs) || this.resetIntervalMs < 0) {
      throw new InvalidOptionError(
        `SileroVADAnalyzer: resetIntervalMs must be a finite number of ms ≥ 0 (got ${options.resetIntervalMs})`,
      );
    }
    if (options.sampleRate !== undefined) this.setSampleRate(options.sampleRate); // fail fast
  }

  /**
   * Loads (or joins the load of) the shared model session; resolves when the analyzer can run.
   * Rejects with a `VADModelLoadError`, which the analyzer then keeps: windows fail with it at
   * once until `ready()` is called again, which retries the load.
   */
  override async ready(): Promise<void> {
    this.#loadFailure = undefined;
    try {
      if (this.inference === "worker") {
        const path = this.modelPath ?? defaultSileroModelPath();
        await SileroWorker.shared(this.runtime).load(path);
        this.#workerModel = path;
        return;
      }
      this.#model ??= await loadSileroSession(this.modelPath, this.runtime);
    } catch (error) {
      // A model that cannot be loaded stays so (kept, one error); a worker stopped during the load
      // (VADAnalysisError) is not the model's fault, and the next window loads again.
      if (!(error instanceof VADAnalysisError)) this.#loadFailure = error;
      throw error;
    }
  }

  /** Periodic model-state resets done so far (not counting {@link reset} and rate changes). */
  get modelResets(): number {
    return this.#resets;
  }

  protected override windowSamples(sampleRate: number): number {
    return GEOMETRY[sampleRate]!.window;
  }

  protected override resetModel(): void {
    this.#state.fill(0);
    this.#stateStale = false;
    const rate = this.sampleRate;
    const geometry = rate === undefined ? undefined : GEOMETRY[rate];
    if (geometry) {
      const size = geometry.context + geometry.window;
      if (this.#input.length !== size) {
        this.#input = new Float32Array(size);
        this.#context = geometry.context;
        this.#tensors = undefined;
      } else {
        this.#input.fill(0);
      }
    }
    this.#sinceReset = 0;
  }

  protected override skippedWindow(window: Float32Array): void {
    // The recurrent state has not seen this audio: it is cleared before the next run. The
    // context (the samples just before a window) stays true to the stream.
    this.#stateStale = true;
    const context = this.#context;
    if (context > 0) this.#input.set(window.subarray(window.length - context), 0);
  }

  protected override async voiceConfidence(window: Float32Array): Promise<number> {
    // A load that failed is not retried per window: a missing file stays missing (one error, not one per window).
    if (this.#loadFailure !== undefined) throw this.#loadFailure;
    if (this.inference === "worker" && this.#workerModel === undefined) await this.ready();
    const model = this.inference === "worker" ? undefined : (this.#model ?? (await this.#load()));
    const interval = this.resetIntervalMs;
    if (
      interval > 0 &&
      this.state === VADState.QUIET &&
      (this.#sinceReset * 1000) / this.sampleRate! >= interval
    ) {
      this.resetModel();
      this.#resets++;
    }
    if (this.#stateStale) {
      this.#stateStale = false;
      this.#state.fill(0);
      this.#sinceReset = 0;
    }
    const input = this.#input;
    const context = this.#context;
    input.set(window, context);
    let prob: number;
    if (model === undefined) {
      const out = await SileroWorker.shared(this.runtime).run(
        this.#workerModel!,
        input,
        this.#state,
        this.sampleRate!,
      );
      this.#state.set(out.state);
      prob = out.prob;
    } else {
      // onnxruntime-web runs the model synchronously and settles without an event-loop turn:
      // take one first, so timers and I/O run between windows however the caller loops
      // (onnxruntime-node's run takes that turn itself).
      if (model.runtime === "onnxruntime-web") await nextTurn();
      const tensors = (this.#tensors ??= this.#makeTensors(model));
      const out = await model.session.run({ input: tensors.input, state: tensors.state, sr: tensors.sr });
      this.#state.set(out.stateN!.data as Float32Array);
      prob = (out.output!.data as Float32Array)[0]!;
    }
    input.copyWithin(0, input.length - context);
    this.#sinceReset += window.length;
    return prob;
  }

  async #load(): Promise<SileroSession> {
    await this.ready();
    return this.#model!;
  }

  #makeTensors(model: SileroSession): { input: Ort.Tensor; state: Ort.Tensor; sr: Ort.Tensor } {
    const { Tensor } = model.ort;
    return {
      input: new Tensor("float32", this.#input, [1, this.#input.length]),
      state: new Tensor("float32", this.#state, [2, 1, 128]),
      sr: new Tensor("int64", BigInt64Array.from([BigInt(this.sampleRate!)]), []),
    };
  }
}
