import { ONNX_WORKER_PRELUDE, OnnxWorkerThread, type OnnxWorkerReply } from "../onnx/onnx-worker-thread.js";
import { preferredOnnxRuntime } from "../onnx/onnx-runtime-package.js";
import { assertModelReadable, assertSileroV5, unloadableModel } from "./silero-model.js";
import { type SileroRuntime, missingRuntime, resolveSileroRuntime } from "./silero-runtime.js";
import { VADAnalysisError } from "./vad-errors.js";

/**
 * The worker's code ({@link ONNX_WORKER_PRELUDE} and Silero's handler). It holds nothing per
 * stream: every request carries a batch of streams' input windows and recurrent states (Silero
 * v5 takes a batch dimension), and the reply carries the new states back. A load that is not a
 * Silero v5 model fails at stage `inputs`.
 */
const WORKER_SOURCE = `${ONNX_WORKER_PRELUDE}
parentPort.on("message", async (m) => {
  const s = await open(m);
  if (!s) return;
  try {
    if (m.type === "load") {
      if (!["input", "state", "sr"].every((name) => s.inputNames.includes(name))) {
        await drop(m.modelPath);
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

interface Reply extends OnnxWorkerReply {
  probs?: Float32Array;
  states?: Float32Array;
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
  static shared(runtime: SileroRuntime = preferredOnnxRuntime()): SileroWorker {
    let worker = SileroWorker.#shared.get(runtime);
    if (!worker) {
      worker = new SileroWorker(undefined, runtime);
      SileroWorker.#shared.set(runtime, worker);
    }
    return worker;
  }

  readonly #thread: OnnxWorkerThread<Reply>;
  readonly #loaded = new Set<string>();
  /** Loads asked for and not yet answered, by path: callers at the same time share one. */
  readonly #loading = new Map<string, Promise<void>>();
  /** Windows waiting for the end of this event-loop turn, by model path and rate. */
  readonly #queued = new Map<string, { modelPath: string; sampleRate: number; items: Queued[] }>();
  #flushScheduled = false;
  /** Times the worker was stopped: a load that saw it change was cut short, not refused. */
  #stops = 0;
  /** Model loads done by the worker (one per model path, again after the worker is started again). */
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
    readonly runtime: SileroRuntime = preferredOnnxRuntime(),
  ) {
    this.#thread = new OnnxWorkerThread<Reply>({
      source: WORKER_SOURCE,
      runtime,
      model: "Silero VAD",
      failure: (message) => new VADAnalysisError(message),
      missingRuntime,
      onLost: () => this.#loaded.clear(),
      checkEveryMs: Math.min(250, timeoutMs / 4),
    });
  }

  /**
   * Loads `modelPath` in the worker (once per path). Rejects with a `VADModelLoadError` that
   * names what failed (the runtime package, the file, or a model that is not Silero v5) and the
   * fix; a failure is not remembered, so a later call tries again.
   */
  load(modelPath: string): Promise<void> {
    if (this.#loaded.has(modelPath)) return Promise.resolve();
    let loading = this.#loading.get(modelPath);
    if (!loading) {
      loading = this.#load(modelPath).finally(() => this.#loading.delete(modelPath));
      this.#loading.set(modelPath, loading);
    }
    return loading;
  }

  async #load(modelPath: string): Promise<void> {
    const stops = this.#stops;
    resolveSileroRuntime(this.runtime); // a missing package gets its own error, not "could not load the model"
    await assertModelReadable(modelPath);
    let reply: Reply;
    try {
      reply = await this.#thread.request(
        { type: "load", modelPath },
        `loading ${modelPath}`,
        this.timeoutMs * 15,
      );
    } catch (error) {
      // Stopped while loading: nothing is wrong with the model, and the next request loads it again.
      if (this.#stops !== stops)
        throw new VADAnalysisError(
          "Silero VAD: the inference worker was stopped while it loaded the model; the next request loads it again",
          { cause: error },
        );
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
    // A worker started again (it died, or was stopped) has no model yet: it is loaded under the
    // load's deadline, not carried by this run under a window's.
    if (!this.#loaded.has(modelPath)) {
      try {
        await this.load(modelPath);
      } catch (error) {
        for (const item of items) item.reject(error as Error);
        return;
      }
    }
    let reply: Reply;
    try {
      reply = await this.#thread.request(
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

  /**
   * Stops the worker; what is in flight fails with a `VADAnalysisError`, windows asked for and
   * not yet sent (waiting for the end of this event-loop turn) included. The next request starts
   * a new one.
   */
  async terminate(): Promise<void> {
    // Queued windows were asked of this worker: they fail with what is in flight, not run on
    // the next one (whether a window was sent yet is a matter of microseconds to the caller).
    this.#stops++;
    const groups = [...this.#queued.values()];
    this.#queued.clear();
    const error = new VADAnalysisError("Silero VAD: the inference worker was stopped");
    for (const group of groups) for (const item of group.items) item.reject(error);
    await this.#thread.terminate();
  }
}
