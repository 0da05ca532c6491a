import { access } from "node:fs/promises";
import { describe } from "../../../errors.js";
import {
  type OnnxRuntimePackage,
  missingOnnxRuntimeMessage,
  preferredOnnxRuntime,
} from "../../onnx/onnx-runtime-package.js";
import {
  ONNX_WORKER_PRELUDE,
  OnnxWorkerThread,
  type OnnxWorkerReply,
} from "../../onnx/onnx-worker-thread.js";
import { SmartTurnAnalysisError, SmartTurnModelLoadError } from "./smart-turn-errors.js";

/**
 * The worker's code ({@link ONNX_WORKER_PRELUDE} and a generic handler). It knows nothing of
 * Smart Turn: a load names the one float32 input the model must take (and is warmed up with
 * zeros), a run passes that input and returns the first output. A model that lacks the input
 * fails at stage `inputs`.
 */
const WORKER_SOURCE = `${ONNX_WORKER_PRELUDE}
async function run(s, input) {
  const out = await s.run({ [input.name]: new ort.Tensor("float32", input.data, input.dims) });
  const first = out[s.outputNames[0]];
  return { data: Float32Array.from(first.data), dims: first.dims };
}
parentPort.on("message", async (m) => {
  if (m.type === "release") {
    await drop(m.modelPath);
    return parentPort.postMessage({ id: m.id, ok: true });
  }
  const s = await open(m);
  if (!s) return;
  try {
    if (m.type === "load") {
      if (!s.inputNames.includes(m.input.name) || s.outputNames.length === 0) {
        await drop(m.modelPath);
        return fail(m.id, "inputs", "the model lacks the input", { inputNames: s.inputNames, outputNames: s.outputNames });
      }
      // One run now, inside the load's deadline: a runtime's first run compiles and allocates
      // (WebAssembly: seconds on a busy machine), which the first real analysis must not pay.
      const size = m.input.dims.reduce((a, b) => a * b, 1);
      const output = await run(s, { name: m.input.name, dims: m.input.dims, data: new Float32Array(size) });
      return parentPort.postMessage({ id: m.id, ok: true, inputNames: s.inputNames, outputNames: s.outputNames, output });
    }
    const output = await run(s, m.input);
    parentPort.postMessage({ id: m.id, ok: true, output }, [output.data.buffer]);
  } catch (e) {
    fail(m.id, "run", e);
  }
});
`;

/** One float32 tensor sent to the model. */
export interface ModelInput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** The model's first output. */
export interface ModelOutput {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

interface Reply extends OnnxWorkerReply {
  outputNames?: string[];
  output?: ModelOutput;
}

/** What a load learnt about the model. */
export interface LoadedModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The output of the warm-up run on zeros. */
  readonly warmUpOutput: ModelOutput;
}

/**
 * Runs Smart Turn inference on one worker thread per runtime, shared by every analyzer of the
 * process, with one session per model file (docs/design/smart-turn.md). Analyzers hold a model
 * with {@link acquire} and give it back with {@link releaseModel}: the session goes when its last
 * holder releases it, and the thread (with its WebAssembly memory) when no model is held. Every
 * request has a deadline in real time (the worker is shared by tasks on different clocks); a
 * worker that dies fails what is in flight and is started again on the next request. The worker
 * does not keep the process alive while idle.
 */
export class SmartTurnWorker {
  static readonly #shared = new Map<OnnxRuntimePackage, SmartTurnWorker>();

  /** The process-wide worker for `runtime` (default: onnxruntime-node when installed, else onnxruntime-web). */
  static shared(runtime: OnnxRuntimePackage = preferredOnnxRuntime()): SmartTurnWorker {
    let worker = SmartTurnWorker.#shared.get(runtime);
    if (!worker) {
      worker = new SmartTurnWorker(runtime);
      SmartTurnWorker.#shared.set(runtime, worker);
    }
    return worker;
  }

  readonly #thread: OnnxWorkerThread<Reply>;
  /** Loaded (or loading) models and how many analyzers hold each. */
  readonly #models = new Map<string, { loading: Promise<LoadedModel>; holders: number }>();
  /** Model loads done by the worker. */
  loads = 0;
  /** Model runs done. */
  runs = 0;

  constructor(readonly runtime: OnnxRuntimePackage = preferredOnnxRuntime()) {
    this.#thread = new OnnxWorkerThread<Reply>({
      source: WORKER_SOURCE,
      runtime,
      model: "Smart Turn",
      failure: (message) => new SmartTurnAnalysisError(message),
      missingRuntime,
      onLost: () => this.#models.clear(),
    });
  }

  /** Worker threads started. */
  get threadsStarted(): number {
    return this.#thread.threadsStarted;
  }

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.#thread.running;
  }

  /** Model paths held now, with their holder counts. */
  held(): Map<string, number> {
    return new Map([...this.#models].map(([path, m]) => [path, m.holders]));
  }

  /**
   * Loads `modelPath` (once per path; a concurrent or later call joins the same load) and counts
   * one more holder. The model must take `input` (a float32 tensor of `input.dims`); the load runs
   * it once on zeros. Rejects with a {@link SmartTurnModelLoadError} naming what failed and the
   * fix; a failed load holds nothing and is not remembered here.
   */
  async acquire(
    modelPath: string,
    input: { name: string; dims: readonly number[] },
    timeoutMs: number,
  ): Promise<LoadedModel> {
    let model = this.#models.get(modelPath);
    if (!model) {
      const loading = this.#load(modelPath, input, timeoutMs);
      model = { loading, holders: 0 };
      this.#models.set(modelPath, model);
      const entry = model;
      loading.catch(() => {
        if (this.#models.get(modelPath) === entry) this.#models.delete(modelPath);
      });
    }
    model.holders++;
    try {
      return await model.loading;
    } catch (error) {
      model.holders--;
      throw error;
    }
  }

  /**
   * Gives back one hold on `modelPath`. The last holder's release frees the session in the
   * worker, and once no model is held the thread stops. Never rejects.
   */
  async releaseModel(modelPath: string): Promise<void> {
    const model = this.#models.get(modelPath);
    if (!model || model.holders === 0) return;
    model.holders--;
    if (model.holders > 0) return;
    this.#models.delete(modelPath);
    if (this.#models.size === 0) {
      await this.terminate();
      return;
    }
    await this.#thread
      .request({ type: "release", modelPath }, `releasing ${modelPath}`, 5_000)
      .catch(() => undefined);
  }

  /** Runs the model at `modelPath` (loaded with {@link acquire}) on `input`; `input.data` is handed over (transferred). */
  async run(modelPath: string, input: ModelInput, timeoutMs: number): Promise<ModelOutput> {
    const reply = await this.#thread.request(
      { type: "run", modelPath, input },
      `Smart Turn inference on ${modelPath}`,
      timeoutMs,
      [input.data.buffer as ArrayBuffer],
    );
    if (!reply.ok) {
      throw new SmartTurnAnalysisError(
        `Smart Turn: the model run failed in the worker (${reply.stage}): ${reply.error}`,
      );
    }
    this.runs++;
    return reply.output!;
  }

  /** Stops the worker thread now; what is in flight fails, held models are forgotten. */
  async terminate(): Promise<void> {
    await this.#thread.terminate();
  }

  async #load(
    modelPath: string,
    input: { name: string; dims: readonly number[] },
    timeoutMs: number,
  ): Promise<LoadedModel> {
    try {
      await access(modelPath);
    } catch (error) {
      throw new SmartTurnModelLoadError(
        `Smart Turn: the model file ${modelPath} does not exist or cannot be read (${describe(error)}). ` +
          "voicepipe does not ship the Smart Turn model: download smart-turn-v3.2-cpu.onnx (BSD-2-Clause) from " +
          "the pipecat-ai/smart-turn-v3 model repository and pass its path as { modelPath }.",
        { cause: error },
      );
    }
    let reply: Reply;
    try {
      reply = await this.#thread.request(
        { type: "load", modelPath, input },
        `loading ${modelPath}`,
        timeoutMs,
      );
    } catch (error) {
      if (error instanceof SmartTurnModelLoadError) throw error;
      throw unloadable(modelPath, error); // the worker died or missed its deadline
    }
    if (!reply.ok) {
      if (reply.stage === "runtime") throw missingRuntime(this.runtime, new Error(reply.error));
      if (reply.stage === "inputs") {
        throw new SmartTurnModelLoadError(
          `Smart Turn: ${modelPath} has inputs [${(reply.inputNames ?? []).join(", ")}], so it is not a Smart Turn v3 ` +
            `model (expected the input ${input.name}, float32 [${input.dims.join(", ")}]). Pass the path of a Smart Turn ` +
            "v3 .onnx file (smart-turn-v3.x-cpu.onnx or -gpu.onnx).",
        );
      }
      throw unloadable(modelPath, new Error(reply.error));
    }
    this.loads++;
    return { inputNames: reply.inputNames!, outputNames: reply.outputNames!, warmUpOutput: reply.output! };
  }
}

function unloadable(path: string, error: unknown): SmartTurnModelLoadError {
  return new SmartTurnModelLoadError(
    `Smart Turn: the runtime could not load ${path} as a model (${describe(error)}). It must be a Smart Turn v3 ` +
      ".onnx file (input input_features, float32 [1, 80, 800]), e.g. smart-turn-v3.2-cpu.onnx.",
    { cause: error },
  );
}

function missingRuntime(runtime: OnnxRuntimePackage, error: unknown): SmartTurnModelLoadError {
  return new SmartTurnModelLoadError(missingOnnxRuntimeMessage("Smart Turn", runtime, error), {
    cause: error,
  });
}
