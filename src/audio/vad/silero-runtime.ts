import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { InvalidOptionError, describe } from "../../errors.js";
import { VADModelLoadError } from "./vad-errors.js";

/**
 * The ONNX runtimes that can run the Silero model (docs/design/silero-vad.md). Both are optional
 * peer dependencies with the same JavaScript API; voicepipe never imports one the application
 * did not choose.
 *
 * - `onnxruntime-web`: WebAssembly, one thread. No install script, no native build, nothing
 *   downloaded: installs with any npm, offline from the registry. The default.
 * - `onnxruntime-node`: native, several times cheaper per window (`bench/silero-vad.ts`), but
 *   its install script downloads GPU add-ons unless told not to (npm 10 ignores `allowScripts`).
 *   Used when the application has installed it (`ONNXRUNTIME_NODE_INSTALL=skip npm install
 *   onnxruntime-node`), or when asked for with `{ runtime: "onnxruntime-node" }`.
 */
export type SileroRuntime = "onnxruntime-web" | "onnxruntime-node";

/** The runtime that installs anywhere: used unless onnxruntime-node is installed or another is asked for. */
export const DEFAULT_SILERO_RUNTIME: SileroRuntime = "onnxruntime-web";

let preferred: SileroRuntime | undefined;

/**
 * The runtime an analyzer uses when none is asked for: `onnxruntime-node` when the application
 * has installed it (it costs several times less per window, which decides how many sessions a
 * process holds), else `onnxruntime-web`. Looked up once per process, without loading either.
 */
export function preferredSileroRuntime(): SileroRuntime {
  if (preferred === undefined) {
    try {
      createRequire(import.meta.url).resolve("onnxruntime-node");
      preferred = "onnxruntime-node";
    } catch {
      preferred = DEFAULT_SILERO_RUNTIME;
    }
  }
  return preferred;
}

/** Session options per runtime: one CPU thread each, so many analyzers never oversubscribe cores. */
export const SILERO_SESSION_OPTIONS: Readonly<Record<SileroRuntime, Readonly<Record<string, unknown>>>> = {
  "onnxruntime-web": { executionProviders: ["wasm"] },
  "onnxruntime-node": { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ["cpu"] },
};

/** How to install each runtime, offline from the npm registry. */
const INSTALL_ADVICE: Readonly<Record<SileroRuntime, string>> = {
  "onnxruntime-web":
    "Install it in your project: `npm install onnxruntime-web` (WebAssembly: no install script, " +
    "nothing is downloaded; the model file itself ships with voicepipe).",
  "onnxruntime-node":
    "Install it in your project with its download step skipped: `ONNXRUNTIME_NODE_INSTALL=skip npm " +
    "install onnxruntime-node` (the CPU runtime ships in the package), or leave the runtime option " +
    "unset to use onnxruntime-web.",
};

/** Throws `InvalidOptionError` unless `runtime` is one of {@link SileroRuntime}. */
export function checkSileroRuntime(runtime: unknown): SileroRuntime {
  if (runtime === "onnxruntime-web" || runtime === "onnxruntime-node") return runtime;
  throw new InvalidOptionError(
    `SileroVADAnalyzer: runtime must be "onnxruntime-web" (the default) or "onnxruntime-node" (got ${String(runtime)})`,
  );
}

/**
 * The file `runtime`'s CommonJS entry resolves to (what a worker thread `require`s), looked up
 * from voicepipe's own location as Node would. Throws {@link VADModelLoadError} naming the
 * package, where it looked and how to install it.
 */
export function resolveSileroRuntime(runtime: SileroRuntime): string {
  try {
    return createRequire(import.meta.url).resolve(runtime);
  } catch (error) {
    throw missingRuntime(runtime, error);
  }
}

/** The error for a runtime that is not installed (or does not load). */
export function missingRuntime(runtime: SileroRuntime, error: unknown): VADModelLoadError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const notInstalled = code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND"; // require / import
  const what = notInstalled
    ? `it is not installed (looked for it from ${fileURLToPath(new URL(".", import.meta.url))})`
    : `it did not load: ${describe(error)}`;
  return new VADModelLoadError(
    `Silero VAD needs the ${runtime} package to run its model, and ${what}. ${INSTALL_ADVICE[runtime]}`,
    { cause: error },
  );
}
