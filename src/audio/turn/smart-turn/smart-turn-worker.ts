import { access } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type { TimerHandle } from "../../../clock/clock.js";
import { SystemClock } from "../../../clock/system-clock.js";
import { describe } from "../../../errors.js";
import {
  SILERO_SESSION_OPTIONS,
  type SileroRuntime,
  preferredSileroRuntime,
  resolveSileroRuntime,
} from "../../vad/silero-runtime.js";
import { SmartTurnAnalysisError, SmartTurnModelLoadError } from "./smart-turn-errors.js";

/**
 * The worker's code, plain JavaScript evaluated by `worker_threads` (so it runs the same from
 * `src/` under a TypeScript loader and from `dist/`, as the Silero worker does). It loads one
 * runtime package (one thread) and holds one session per model path. It knows nothing of Smart
 * Turn: a load names the one float32 input the model must take (and is warmed up with zeros), a
 * run passes that input and returns the first output. A failure names its stage: `runtime` (the
 * package did not load), `model` (the file did not load), `inputs` (the model lacks the input),
 * `run`.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
let ort;
const sessions = new Map();
function runtime() {
  if (!ort) {
    ort = require(workerData.ortPath);
    if (workerData.runtime === "onnxruntime-web") ort.env.wasm.numThreads = 1;
  }
  return ort;
}
function session(path) {
  let s = sessions.get(path);
  if (!s) {
    s = runtime().InferenceSession.create(path, workerData.sessionOptions);
    sessions.set(path, s);
    s.catch(() => sessions.delete(path));
  }
  return s;
}
function fail(id, stage, e, extra) {
  parentPort.postMessage({ id, ok: false, stage, error: String((e && e.message) || e), ...extra });
}
async function run(s, input) {
  const out = await s.run({ [input.name]: new ort.Tensor("float32", input.data, input.dims) });
  const first = out[s.outputNames[0]];
  return { data: Float32Array.from(first.data), dims: first.dims };
}
parentPort.on("message", async (m) => {
  if (m.type === "release") {
    const s = sessions.get(m.modelPath);
    sessions.delete(m.modelPath);
    if (s) await s.then((x) => x.release()).catch(() => undefined);
    return parentPort.postMessage({ id: m.id, ok: true });
  }
  try {
    runtime();
  } catch (e) {
    return fail(m.id, "runtime", e);
  }
  let s;
  try {
    s = await session(m.modelPath);
  } catch (e) {
    return fail(m.id, "model", e);
  }
  try {
    if (m.type === "load") {
      if (!s.inputNames.includes(m.input.name) || s.outputNames.length === 0) {
        sessions.delete(m.modelPath);
        await s.release().catch(() => undefined);
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

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  stage?: "runtime" | "model" | "inputs" | "run";
  inputNames?: string[];
  outputNames?: string[];
  output?: ModelOutput;
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  deadline: number;
  what: string;
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
  static readonly #shared = new Map<SileroRuntime, SmartTurnWorker>();

  /** The process-wide worker for `runtime` (default: onnxruntime-node when installed, else onnxruntime-web). */
  static shared(runtime: SileroRuntime = preferredSileroRuntime()): SmartTurnWorker {
    let worker = SmartTurnWorker.#shared.get(runtime);
    if (!worker) {
      worker = new SmartTurnWorker(runtime);
      SmartTurnWorker.#shared.set(runtime, worker);
    }
    return worker;
  }

  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly #clock = new SystemClock();
  #watchdog: TimerHandle | undefined;
  /** Loaded (or loading) models and how many analyzers hold each. */
  readonly #models = new Map<string, { loading: Promise<LoadedModel>; holders: number }>();
  /** Model loads done by the worker. */
  loads = 0;
  /** Model runs done. */
  runs = 0;
  /** Worker threads started. */
  threadsStarted = 0;

  constructor(readonly runtime: SileroRuntime = preferredSileroRuntime()) {}

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.#worker !== undefined;
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
    await this.#request({ type: "release", modelPath }, `releasing ${modelPath}`, 5_000).catch(
      () => undefined,
    );
  }

  /** Runs the model at `modelPath` (loaded with {@link acquire}) on `input`; `input.data` is handed over (transferred). */
  async run(modelPath: string, input: ModelInput, timeoutMs: number): Promise<ModelOutput> {
    const reply = await this.#request(
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
    const worker = this.#worker;
    this.#worker = undefined;
    this.#models.clear();
    this.#failAll(new SmartTurnAnalysisError("Smart Turn: the inference worker was stopped"));
    await worker?.terminate();
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
      reply = await this.#request({ type: "load", modelPath, input }, `loading ${modelPath}`, timeoutMs);
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

  #request(
    message: Record<string, unknown>,
    what: string,
    timeoutMs: number,
    transfer: ArrayBuffer[] = [],
  ): Promise<Reply> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: performance.now() + timeoutMs, what });
      if (this.#pending.size === 1) worker.ref(); // a request in flight keeps the process alive
      this.#armWatchdog(timeoutMs);
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const runtime = this.runtime;
    let ortPath: string;
    try {
      ortPath = resolveSileroRuntime(runtime);
    } catch (error) {
      throw missingRuntime(runtime, error);
    }
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath, runtime, sessionOptions: SILERO_SESSION_OPTIONS[runtime] },
    });
    worker.unref();
    worker.on("message", (reply: Reply) => this.#onReply(reply));
    worker.on("error", (error) => this.#onExit(worker, error));
    worker.on("exit", (code) => this.#onExit(worker, new Error(`exited with code ${code}`)));
    this.#worker = worker;
    this.threadsStarted++;
    return worker;
  }

  #onReply(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return; // timed out already
    this.#settled(reply.id);
    pending.resolve(reply);
  }

  #onExit(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#models.clear();
    this.#failAll(
      new SmartTurnAnalysisError(
        `Smart Turn: the inference worker died (${error.message}); it restarts on the next request`,
      ),
    );
  }

  #failAll(error: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    this.#watchdog?.cancel();
    this.#watchdog = undefined;
    for (const p of all) p.reject(error);
  }

  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) {
      this.#worker?.unref();
      this.#watchdog?.cancel();
      this.#watchdog = undefined;
    }
  }

  /** One timer while requests are in flight: fails those past their deadline. */
  #armWatchdog(timeoutMs: number): void {
    if (this.#watchdog) return;
    this.#watchdog = this.#clock.setTimer(
      () => {
        this.#watchdog = undefined;
        const now = performance.now();
        for (const [id, p] of this.#pending) {
          if (p.deadline > now) continue;
          this.#settled(id);
          p.reject(new SmartTurnAnalysisError(`Smart Turn: ${p.what} did not answer within its deadline`));
        }
        if (this.#pending.size > 0) this.#armWatchdog(timeoutMs);
      },
      Math.max(5, Math.min(250, timeoutMs / 4)),
    );
  }
}

function unloadable(path: string, error: unknown): SmartTurnModelLoadError {
  return new SmartTurnModelLoadError(
    `Smart Turn: the runtime could not load ${path} as a model (${describe(error)}). It must be a Smart Turn v3 ` +
      ".onnx file (input input_features, float32 [1, 80, 800]), e.g. smart-turn-v3.2-cpu.onnx.",
    { cause: error },
  );
}

function missingRuntime(runtime: SileroRuntime, error: unknown): SmartTurnModelLoadError {
  return new SmartTurnModelLoadError(
    `Smart Turn needs the ${runtime} package to run its model, and it could not be loaded (${describe(error)}). ` +
      (runtime === "onnxruntime-web"
        ? "Install it in your project: `npm install onnxruntime-web` (WebAssembly: no install script, nothing downloaded)."
        : "Install it with its download step skipped: `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`, " +
          'or pass { runtime: "onnxruntime-web" }.'),
    { cause: error },
  );
}
