import type * as Ort from "onnxruntime-web";
import {
  assertModelReadable,
  assertSileroV5,
  defaultSileroModelPath,
  missingRuntime,
  unloadableModel,
} from "./silero-model.js";

/** The onnxruntime-web module, as loaded. */
export type OnnxRuntime = typeof Ort;

/** A loaded Silero model on this thread: the runtime module and one session, shared by every analyzer. */
export interface SileroSession {
  readonly ort: OnnxRuntime;
  readonly session: Ort.InferenceSession;
  /** Path of the model file. */
  readonly modelPath: string;
}

const sessions = new Map<string, Promise<SileroSession>>();
let loads = 0;

/**
 * The process-wide main-thread session for the model at `modelPath` (default: the model shipped
 * with voicepipe, {@link defaultSileroModelPath}): loaded on first call with one WebAssembly
 * thread, then shared: every later call, concurrent or not, gets the same promise. A failed load
 * is forgotten, so a later call retries. Rejects with a `VADModelLoadError` naming the path (or
 * the missing runtime package) and the fix.
 */
export function loadSileroSession(modelPath?: string): Promise<SileroSession> {
  const path = modelPath ?? defaultSileroModelPath();
  let loading = sessions.get(path);
  if (!loading) {
    loading = load(path);
    sessions.set(path, loading);
    loading.catch(() => sessions.delete(path));
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

async function load(path: string): Promise<SileroSession> {
  let ort: OnnxRuntime;
  try {
    const mod = (await import("onnxruntime-web")) as OnnxRuntime & { default?: OnnxRuntime };
    ort = mod.InferenceSession ? mod : mod.default!;
  } catch (error) {
    throw missingRuntime(error);
  }
  // One WebAssembly thread, as in the worker, unless the application configured the runtime.
  ort.env.wasm.numThreads ??= 1;
  await assertModelReadable(path);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { executionProviders: ["wasm"] });
  } catch (error) {
    throw unloadableModel(path, error);
  }
  try {
    assertSileroV5(path, session.inputNames);
  } catch (error) {
    await session.release().catch(() => undefined);
    throw error;
  }
  loads++;
  return { ort, session, modelPath: path };
}
