import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { InvalidOptionError, describe } from "../../errors.js";

/**
 * The ONNX runtime packages voicepipe's models run on (Silero VAD, Smart Turn;
 * docs/design/silero-vad.md). Both are optional peer dependencies with the same JavaScript API;
 * voicepipe never imports one the application did not choose.
 *
 * - `onnxruntime-web`: WebAssembly, one thread. No install script, no native build, nothing
 *   downloaded: installs with any npm, offline from the registry. The default.
 * - `onnxruntime-node`: native, several times cheaper per run (`bench/silero-vad.ts`), but its
 *   install script downloads GPU add-ons unless told not to (npm 10 ignores `allowScripts`).
 *   Used when the application has installed it (`ONNXRUNTIME_NODE_INSTALL=skip npm install
 *   onnxruntime-node`), or when asked for with `{ runtime: "onnxruntime-node" }`.
 */
export type OnnxRuntimePackage = "onnxruntime-web" | "onnxruntime-node";

/** The runtime that installs anywhere: used unless onnxruntime-node is installed or another is asked for. */
export const DEFAULT_ONNX_RUNTIME: OnnxRuntimePackage = "onnxruntime-web";

let preferred: OnnxRuntimePackage | undefined;

/**
 * The runtime a model uses when none is asked for: `onnxruntime-node` when the application has
 * installed it (it costs several times less per run, which decides how many sessions a process
 * holds), else `onnxruntime-web`. Looked up once per process, without loading either.
 */
export function preferredOnnxRuntime(): OnnxRuntimePackage {
  if (preferred === undefined) {
    try {
      createRequire(import.meta.url).resolve("onnxruntime-node");
      preferred = "onnxruntime-node";
    } catch {
      preferred = DEFAULT_ONNX_RUNTIME;
    }
  }
  return preferred;
}

/** Session options per runtime: one CPU thread each, so many models never oversubscribe cores. */
export const ONNX_SESSION_OPTIONS: Readonly<Record<OnnxRuntimePackage, Readonly<Record<string, unknown>>>> = {
  "onnxruntime-web": { executionProviders: ["wasm"] },
  "onnxruntime-node": { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ["cpu"] },
};

/** How to install each runtime, offline from the npm registry. */
const INSTALL_ADVICE: Readonly<Record<OnnxRuntimePackage, string>> = {
  "onnxruntime-web":
    "Install it in your project: `npm install onnxruntime-web` (WebAssembly: no install script, " +
    "nothing is downloaded).",
  "onnxruntime-node":
    "Install it in your project with its download step skipped: `ONNXRUNTIME_NODE_INSTALL=skip npm " +
    'install onnxruntime-node` (the CPU runtime ships in the package), or pass { runtime: "onnxruntime-web" }.',
};

/**
 * Returns `runtime` when it is an {@link OnnxRuntimePackage}; else throws `InvalidOptionError`
 * naming `owner` (the class whose option it is).
 */
export function checkOnnxRuntime(runtime: unknown, owner: string): OnnxRuntimePackage {
  if (runtime === "onnxruntime-web" || runtime === "onnxruntime-node") return runtime;
  throw new InvalidOptionError(
    `${owner}: runtime must be "onnxruntime-web" (the default) or "onnxruntime-node" (got ${String(runtime)})`,
  );
}

/**
 * The file `runtime`'s CommonJS entry resolves to (what a worker thread `require`s), looked up
 * from voicepipe's own location as Node would. When it cannot be found, throws what `missing`
 * makes of the failure (the model's own load error, see {@link missingOnnxRuntimeMessage}).
 */
export function resolveOnnxRuntime(
  runtime: OnnxRuntimePackage,
  missing: (runtime: OnnxRuntimePackage, error: unknown) => Error,
): string {
  try {
    return createRequire(import.meta.url).resolve(runtime);
  } catch (error) {
    throw missing(runtime, error);
  }
}

/**
 * The message for a runtime that is not installed (or does not load): `model` needs it, where it
 * was looked for or why it failed, and how to install it.
 */
export function missingOnnxRuntimeMessage(
  model: string,
  runtime: OnnxRuntimePackage,
  error: unknown,
): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const notInstalled = code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND"; // require / import
  const what = notInstalled
    ? `it is not installed (looked for it from ${fileURLToPath(new URL(".", import.meta.url))})`
    : `it did not load: ${describe(error)}`;
  return `${model} needs the ${runtime} package to run its model, and ${what}. ${INSTALL_ADVICE[runtime]}`;
}
