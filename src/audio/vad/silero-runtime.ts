import {
  DEFAULT_ONNX_RUNTIME,
  type OnnxRuntimePackage,
  missingOnnxRuntimeMessage,
  resolveOnnxRuntime,
} from "../onnx/onnx-runtime-package.js";
import { VADModelLoadError } from "./vad-errors.js";

/**
 * The ONNX runtimes that can run the Silero model (docs/design/silero-vad.md): the same packages
 * as every ONNX model in voicepipe ({@link OnnxRuntimePackage}), under Silero's public name.
 */
export type SileroRuntime = OnnxRuntimePackage;

/** The runtime that installs anywhere: used unless onnxruntime-node is installed or another is asked for. */
export const DEFAULT_SILERO_RUNTIME: SileroRuntime = DEFAULT_ONNX_RUNTIME;

/**
 * The file `runtime`'s CommonJS entry resolves to (what a worker thread `require`s). Throws
 * {@link VADModelLoadError} naming the package, where it looked and how to install it.
 */
export function resolveSileroRuntime(runtime: SileroRuntime): string {
  return resolveOnnxRuntime(runtime, missingRuntime);
}

/** The Silero error for a runtime that is not installed (or does not load). */
export function missingRuntime(runtime: SileroRuntime, error: unknown): VADModelLoadError {
  return new VADModelLoadError(missingOnnxRuntimeMessage("Silero VAD", runtime, error), { cause: error });
}
