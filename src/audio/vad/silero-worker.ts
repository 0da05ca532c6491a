import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { SystemClock } from "../../clock/system-clock.js";
import type { TimerHandle } from "../../clock/clock.js";
import { assertModelReadable, assertSileroV5, unloadableModel } from "./silero-model.js";
import {
  preferredSileroRuntime,
  SILERO_SESSION_OPTIONS,
  type SileroRuntime,
  missingRuntime,
  resolveSileroRuntime,
} from "./silero-runtime.js";
import { VADAnalysisError } from "./vad-errors.js";

/**
 * The worker's code, plain JavaScript evaluated by `worker_threads` (so it runs the same from
 * `src/` under a TypeScript loader and from `dist/`). It loads one runtime package (one thread)
 * and holds one session per model path and nothing per stream: every request carries a
 * batch of streams' input windows and recurrent states (Silero v5 takes a batch dimension), and
 * the reply carries the new states back. A failure names its stage: `runtime` (the package did
 * not load), `model` (the file did not load) or `inputs` (not a Silero v5 model).
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
parentPort.on("message", async (m) => {
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
      if (!["input", "state", "sr"].every((name) => s.inputNames.includes(name))) {
        sessions.delete(m.modelPath);
        await s.release().catch(() => undefined);
        return fail(m.id, "inputs", "not a Silero v5 model", { inputNames: s.inputNames });
      }
      // One run per rate now, inside the load's deadline: a runtime's first run compiles and
      // allocates (WebAssembly: seconds on a busy machine), which the first window must not pay.
      for (const [sr, size] of [[16000, 576], [8000, 288]]) {
        await s.run({
          input: new ort.Tensor("float32", new Float32Array(size), [1, size]),
          state: new ort.Tensor("float32", new Float32Array(256), [2, 1, 128]),
          sr: new ort.Tensor("int64", BigInt64Array.from([BigInt(sr)]), []),
        });
      }
      parentPort.postMessage({ id: m.id, ok: true });
      return;
    }
    const n = m.count;
    const out = await s.run({
      input: new ort.Tensor("float32", m.inputs, [n, m.inputs.length / n]),
      state: new ort.Tensor("float32", m.states, [2, n, 128]),
      sr: new ort.Tensor("int64", BigInt64Array.from([BigInt(m.sr)]), []),
    });
    parentPort.postMessage({ id: m.id, ok: true, probs: out.output.data, states: out.stateN.data });
  } catch (e) {
    fail(m.id, "run", e);
  }
});
`;

interface Pending {
  resolve: (value: Reply) => void;
  reject: (error: Error) => void;
  deadline: number;
  what: string;
}

interface Reply {
  id: number;
  ok: boolean;
  probs?: Float32Array;
  states?: Float32Array;
  /** Why a request failed (with `ok: false`). */
  error?: string;
  /** Where it failed: the runtime package, the model file, its inputs, or the run. */
  stage?: "runtime" | "model" | "inputs" | "run";
  /** The model's inputs (stage `inputs`). */
  inputNames?: string[];
}

/** One stream's window waiting to go out in the next batch. */
interface Queued {
  input: Float32Array;
  state: Float32Array;
  resolve: (value: { prob: number; state: Float32Array }) => void;
  reject: (error: Error) => void;
}

const STATE_SIZE = 2 * 128;
/** Most windows in one model run (bounds a message to about 600 KB). */
const MAX_BATCH = 256;

/**
 * Runs Silero inference on a worker thread shared by every analyzer in the process
 * (docs/design/silero-vad.md: inference off the main thread, one model session per process).
 * Windows asked for in the same event-loop turn (many sessions' audio arriving together) go to
 * the worker as one batch and one model run, which costs far less per window than one run each
 * (`bench/silero-vad.ts`). Every request has a deadline (`timeoutMs`); a worker that dies fails
 * what is in flight and is started again on the next request. The worker does not keep the
 * process alive while idle.
 */
export class SileroWorker {
  static readonly #shared = new Map<SileroRuntime, SileroWorker>();

  /** The process-wide worker for `runtime` (default onnxruntime-web), started on first use. */
  static shared(runtime: SileroRuntime = preferredSileroRuntime()): SileroWorker {
    let worker = SileroWorker.#shared.get(runtime);
    if (!worker) {
      worker = new SileroWorker(undefined, runtime);
      SileroWorker.#shared.set(runtime, worker);
    }
    return worker;
  }

  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly #clock = new SystemClock();
  #watchdog: TimerHandle | undefined;
  readonly #loaded = new Set<string>();
  /** Windows waiting for the end of this event-loop turn, by model path and rate. */
  readonly #queued = new Map<string, { modelPath: string; sampleRate: number; items: Queued[] }>();
  #flushScheduled = false;
  /** Model loads done by the worker (one per model path). */
  loads = 0;
  /** Windows analysed. */
  runs = 0;
  /** Model runs (batches) done. */
  batches = 0;

  /**
   * @param timeoutMs deadline of one inference request, in ms (a model load gets 15 times it).
   * @param runtime the package the worker runs the model with.
   */
  constructor(
    readonly timeoutMs = 2_000,
    readonly runtime: SileroRuntime = preferredSileroRuntime(),
  ) {}

  /**
   * Loads `modelPath` in the worker (once per path). Rejects with a `VADModelLoadError` that
   * names what failed (the runtime package, the file, or a model that is not Silero v5) and the
   * fix; a failure is not remembered, so a later call tries again.
   */
  async load(modelPath: string): Promise<void> {
    if (this.#loaded.has(modelPath)) return;
    resolveSileroRuntime(this.runtime); // a missing package gets its own error, not "could not load the model"
    await assertModelReadable(modelPath);
    let reply: Reply;
    try {
      reply = await this.#request({ type: "load", modelPath }, `loading ${modelPath}`, this.timeoutMs * 15);
    } catch (error) {
      throw unloadableModel(modelPath, error); // the worker died or missed its deadline
    }
    if (!reply.ok) {
      const cause = new Error(reply.error);
      if (reply.stage === "runtime") throw missingRuntime(this.runtime, cause);
      if (reply.stage === "inputs") assertSileroV5(modelPath, reply.inputNames ?? []);
      throw unloadableModel(modelPath, cause);
    }
    if (!this.#loaded.has(modelPath)) {
      this.#loaded.add(modelPath);
      this.loads++;
    }
  }

  /**
   * Runs one window: `input` (context + window) and the stream's `state` (copied now, so the
   * caller may reuse its arrays); returns the probability and the new state. Batched with the
   * other windows asked for in the same event-loop turn.
   */
  run(
    modelPath: string,
    input: Float32Array,
    state: Float32Array,
    sampleRate: number,
  ): Promise<{ prob: number; state: Float32Array }> {
    const key = `${modelPath}|${sampleRate}`;
    let group = this.#queued.get(key);
    if (!group) {
      group = { modelPath, sampleRate, items: [] };
      this.#queued.set(key, group);
    }
    const items = group.items;
    const result = new Promise<{ prob: number; state: Float32Array }>((resolve, reject) => {
      items.push({ input: input.slice(), state: state.slice(), resolve, reject });
    });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return result;
  }

  #flush(): void {
    this.#flushScheduled = false;
    const groups = [...this.#queued.values()];
    this.#queued.clear();
    for (const group of groups) {
      for (let i = 0; i < group.items.length; i += MAX_BATCH) {
        void this.#runBatch(group.modelPath, group.sampleRate, group.items.slice(i, i + MAX_BATCH));
      }
    }
  }

  async #runBatch(modelPath: string, sampleRate: number, items: Queued[]): Promise<void> {
    const n = items.length;
    const inputLength = items[0]!.input.length;
    const inputs = new Float32Array(n * inputLength);
    const states = new Float32Array(n * STATE_SIZE);
    // State is [2 layers, batch, 128]: each stream's two halves go to their layer's block.
    items.forEach((item, b) => {
      inputs.set(item.input, b * inputLength);
      states.set(item.state.subarray(0, 128), b * 128);
      states.set(item.state.subarray(128), (n + b) * 128);
    });
    let reply: Reply;
    try {
      reply = await this.#request(
        { type: "run", modelPath, inputs, states, count: n, sr: sampleRate },
        `inference of ${n} window(s)`,
        this.timeoutMs,
      );
    } catch (error) {
      for (const item of items) item.reject(error as Error);
      return;
    }
    if (!reply.ok) {
      const error = new VADAnalysisError(
        `Silero VAD: inference of ${n} window(s) failed in the worker: ${reply.error}`,
      );
      for (const item of items) item.reject(error);
      return;
    }
    this.batches++;
    this.runs += n;
    const probs = reply.probs!;
    const next = reply.states!;
    items.forEach((item, b) => {
      const state = new Float32Array(STATE_SIZE);
      state.set(next.subarray(b * 128, (b + 1) * 128), 0);
      state.set(next.subarray((n + b) * 128, (n + b + 1) * 128), 128);
      item.resolve({ prob: probs[b]!, state });
    });
  }

  /** Stops the worker; the next request starts a new one. */
  async terminate(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#loaded.clear();
    this.#failAll(new VADAnalysisError("Silero VAD: the inference worker was stopped"));
    await worker?.terminate();
  }

  #request(message: Record<string, unknown>, what: string, timeoutMs: number): Promise<Reply> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: performance.now() + timeoutMs, what });
      if (this.#pending.size === 1) worker.ref(); // a request in flight keeps the process alive
      this.#armWatchdog();
      worker.postMessage({ ...message, id });
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const runtime = this.runtime;
    const ortPath = resolveSileroRuntime(runtime); // throws the clear "install it like this" error
    const sessionOptions = SILERO_SESSION_OPTIONS[runtime];
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath, runtime, sessionOptions },
    });
    worker.unref();
    worker.on("message", (reply: Reply) => this.#onReply(reply));
    worker.on("error", (error) => this.#onExit(worker, error));
    worker.on("exit", (code) => this.#onExit(worker, new Error(`exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  /** A reply settles its request, failed or not: the caller reads `ok` and `stage`. */
  #onReply(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return; // timed out already
    this.#settled(reply.id);
    pending.resolve(reply);
  }

  #onExit(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#loaded.clear();
    this.#failAll(
      new VADAnalysisError(
        `Silero VAD: the inference worker died (${error.message}); it restarts on the next request`,
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
  #armWatchdog(): void {
    if (this.#watchdog) return;
    this.#watchdog = this.#clock.setTimer(
      () => {
        this.#watchdog = undefined;
        const now = performance.now();
        for (const [id, p] of this.#pending) {
          if (p.deadline > now) continue;
          this.#settled(id);
          p.reject(new VADAnalysisError(`Silero VAD: ${p.what} did not answer within its deadline`));
        }
        if (this.#pending.size > 0) this.#armWatchdog();
      },
      Math.min(250, this.timeoutMs / 4),
    );
  }
}
