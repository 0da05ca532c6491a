import type * as Ort from "onnxruntime-web";
import {
  assertModelReadable,
  assertSileroV5,
  defaultSileroModelPath,
  unloadableModel,
} from "./silero-model.js";
import { ONNX_SESSION_OPTIONS, preferredOnnxRuntime } from "../onnx/onnx-runtime-package.js";
import { type SileroRuntime, missingRuntime, resolveSileroRuntime } from "./silero-runtime.js";

/** The runtime module, as loaded (onnxruntime-web and onnxruntime-node share this API). */
export type OnnxRuntime = typeof Ort;

/** A loaded Silero model on this thread: the runtime module and one session, shared by every analyzer. */
export interface SileroSession {
  readonly ort: OnnxRuntime;
  readonly session: Ort.InferenceSession;
  /** Path of the model file. */
  readonly modelPath: string;
  /** The package that runs it. */
  readonly runtime: SileroRuntime;
}

const sessions = new Map<string, Promise<SileroSession>>();
let loads = 0;

/**
 * This thread's session for the model at `modelPath` (default: the model shipped
 * with voicepipe, {@link defaultSileroModelPath}) on `runtime` (default onnxruntime-web): loaded
 * on first call with one thread, then shared: every later call, concurrent or not, gets the same
 * promise. A failed load is forgotten, so a later call retries. Rejects with a
 * `VADModelLoadError` naming the path (or the missing runtime package) and the fix.
 */
export function loadSileroSession(
  modelPath?: string,
  runtime: SileroRuntime = preferredOnnxRuntime(),
): Promise<SileroSession> {
  const path = modelPath ?? defaultSileroModelPath();
  const key = `${runtime}|${path}`;
  let loading = sessions.get(key);
  if (!loading) {
    loading = load(path, runtime);
    sessions.set(key, loading);
    loading.catch(() => sessions.delete(key));
  }
  return loading;
}

/**
 * How many sessions were created in this process (each model path counts once unless released
 * or failed), and how many are held now. For tests and diagnostics.
 */
export function sileroSessionStats(): { loads: number; sessions: number } {
  return { loads, sessions: sessions.size };
}

/**
 * Releases every held session (WebAssembly memory included). For orderly shutdown and tests; an
 * analyzer used afterwards loads the model again. Do not call while analyzers are running.
 */
export async function releaseSileroSessions(): Promise<void> {
  const held = [...sessions.values()];
  sessions.clear();
  for (const loading of held) {
    try {
      await (await loading).session.release();
    } catch {
      // A failed load holds nothing; a release failure leaves nothing we could retry.
    }
  }
}

async function load(path: string, runtime: SileroRuntime): Promise<SileroSession> {
  resolveSileroRuntime(runtime); // not installed: the same clear error as the worker gives
  let ort: OnnxRuntime;
  try {
    const mod = (await import(runtime)) as OnnxRuntime & { default?: OnnxRuntime };
    ort = mod.InferenceSession ? mod : mod.default!;
  } catch (error) {
    throw missingRuntime(runtime, error);
  }
  // One WebAssembly thread, as in the worker, unless the application configured the runtime.
  if (runtime === "onnxruntime-web") ort.env.wasm.numThreads ??= 1;
  await assertModelReadable(path);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, ONNX_SESSION_OPTIONS[runtime]);
  } catch (error) {
    throw unloadableModel(path, error);
  }
  try {
    assertSileroV5(path, session.inputNames);
  } catch (error) {
    await session.release().catch(() => undefined);
    throw error;
  }
  await warmUp(ort, session);
  loads++;
  return { ort, session, modelPath: path, runtime };
}

/**
 * One run per rate, so the first real window does not pay for the runtime's first-run work
 * (compiling and allocating: with WebAssembly, seconds on a busy machine).
 */
async function warmUp(ort: OnnxRuntime, session: Ort.InferenceSession): Promise<void> {
  for (const [sr, size] of [
    [16000, 576],
    [8000, 288],
  ] as const) {
    await session.run({
      input: new ort.Tensor("float32", new Float32Array(size), [1, size]),
      state: new ort.Tensor("float32", new Float32Array(256), [2, 1, 128]),
      sr: new ort.Tensor("int64", BigInt64Array.from([BigInt(sr)]), []),
    });
  }
}
