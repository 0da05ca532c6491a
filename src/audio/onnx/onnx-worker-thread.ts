import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type { TimerHandle } from "../../clock/clock.js";
import { SystemClock } from "../../clock/system-clock.js";
import { ONNX_SESSION_OPTIONS, type OnnxRuntimePackage, resolveOnnxRuntime } from "./onnx-runtime-package.js";

/**
 * The start of every ONNX worker's code (plain JavaScript evaluated by `worker_threads`, so it
 * runs the same from `src/` under a TypeScript loader and from `dist/`). It loads one runtime
 * package per thread and holds one session per model path. A worker's own message handler
 * follows it and uses:
 * - `open(m)`: the session for `m.modelPath`, or `undefined` after replying with the failed
 *   stage, `runtime` (the package did not load) or `model` (the file did not load);
 * - `drop(path)`: forgets and releases the session for `path`;
 * - `fail(id, stage, error, extra)`: a failed reply (stages `inputs` and `run` are the handler's).
 */
export const ONNX_WORKER_PRELUDE = String.raw`
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
async function open(m) {
  try {
    runtime();
  } catch (e) {
    return fail(m.id, "runtime", e);
  }
  try {
    return await session(m.modelPath);
  } catch (e) {
    return fail(m.id, "model", e);
  }
}
async function drop(path) {
  const s = sessions.get(path);
  sessions.delete(path);
  if (s) await s.then((x) => x.release()).catch(() => undefined);
}
`;

/** What every ONNX worker's reply carries; a worker adds its own fields. */
export interface OnnxWorkerReply {
  id: number;
  ok: boolean;
  /** Why a request failed (with `ok: false`). */
  error?: string;
  /** Where it failed: the runtime package, the model file, its inputs, or the run. */
  stage?: "runtime" | "model" | "inputs" | "run";
  /** The model's inputs (stage `inputs`, and a worker's successful load). */
  inputNames?: string[];
}

/** How one kind of model's worker thread is run. */
export interface OnnxWorkerThreadOptions {
  /** The worker's code: {@link ONNX_WORKER_PRELUDE} followed by its message handler. */
  readonly source: string;
  readonly runtime: OnnxRuntimePackage;
  /** The model's name, which starts every failure message ("Silero VAD", "Smart Turn"). */
  readonly model: string;
  /** The model's analysis error, for requests that fail in flight (stopped, died, late). */
  readonly failure: (message: string) => Error;
  /** The model's load error for a runtime package that is not installed. */
  readonly missingRuntime: (runtime: OnnxRuntimePackage, error: unknown) => Error;
  /** Called when the thread stops or dies: whatever it had loaded is gone. */
  readonly onLost: () => void;
  /** How often, in ms, in-flight deadlines are checked (default: a quarter of each request's timeout, 5 to 250). */
  readonly checkEveryMs?: number;
}

interface Pending<R> {
  resolve: (reply: R) => void;
  reject: (error: Error) => void;
  deadline: number;
  what: string;
}

/**
 * One worker thread that runs ONNX models, started on the first request and started again after
 * it dies (docs/design/silero-vad.md, docs/design/smart-turn.md). It owns the thread's
 * lifecycle: every request has a deadline in real time (the thread is shared by tasks on
 * different clocks), one watchdog timer runs while requests are in flight, a thread that dies
 * fails what is in flight, and the thread keeps the process alive only while a request is in
 * flight. What the requests mean is the owner's (`SileroWorker`, `SmartTurnWorker`).
 */
export class OnnxWorkerThread<R extends OnnxWorkerReply> {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending<R>>();
  #nextId = 1;
  readonly #clock = new SystemClock();
  #watchdog: TimerHandle | undefined;
  /** Worker threads started. */
  threadsStarted = 0;

  constructor(private readonly options: OnnxWorkerThreadOptions) {}

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Sends `message` (with a fresh `id`) and resolves with the reply, failed or not: the caller
   * reads `ok` and `stage`. Rejects with the model's analysis error when the thread dies or is
   * stopped, or when no reply comes within `timeoutMs`; throws the model's load error when the
   * runtime package is not installed. `transfer` is handed over to the thread.
   */
  request(
    message: Record<string, unknown>,
    what: string,
    timeoutMs: number,
    transfer: ArrayBuffer[] = [],
  ): Promise<R> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: performance.now() + timeoutMs, what });
      if (this.#pending.size === 1) worker.ref(); // a request in flight keeps the process alive
      this.#armWatchdog(this.options.checkEveryMs ?? Math.max(5, Math.min(250, timeoutMs / 4)));
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Stops the thread now; what is in flight fails. The next request starts a new one. */
  async terminate(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.options.onLost();
    this.#failAll(this.options.failure(`${this.options.model}: the inference worker was stopped`));
    await worker?.terminate();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const { runtime, source, missingRuntime } = this.options;
    const ortPath = resolveOnnxRuntime(runtime, missingRuntime); // throws the clear "install it like this" error
    const worker = new Worker(source, {
      eval: true,
      workerData: { ortPath, runtime, sessionOptions: ONNX_SESSION_OPTIONS[runtime] },
    });
    worker.unref();
    worker.on("message", (reply: R) => this.#onReply(reply));
    worker.on("error", (error) => this.#onExit(worker, error));
    worker.on("exit", (code) => this.#onExit(worker, new Error(`exited with code ${code}`)));
    this.#worker = worker;
    this.threadsStarted++;
    return worker;
  }

  #onReply(reply: R): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return; // timed out already
    this.#settled(reply.id);
    pending.resolve(reply);
  }

  #onExit(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.options.onLost();
    this.#failAll(
      this.options.failure(
        `${this.options.model}: the inference worker died (${error.message}); it restarts on the next request`,
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
  #armWatchdog(everyMs: number): void {
    if (this.#watchdog) return;
    this.#watchdog = this.#clock.setTimer(() => {
      this.#watchdog = undefined;
      const now = performance.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline > now) continue;
        this.#settled(id);
        p.reject(this.options.failure(`${this.options.model}: ${p.what} did not answer within its deadline`));
      }
      if (this.#pending.size > 0) this.#armWatchdog(everyMs);
    }, everyMs);
  }
}
