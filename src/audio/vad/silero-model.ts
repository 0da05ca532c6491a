import { access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe } from "../../errors.js";
import { VADModelLoadError } from "./vad-errors.js";

/**
 * The Silero model file (docs/design/silero-vad.md): it ships inside voicepipe
 * (`models/silero_vad_v5.onnx`, MIT licence), so nothing is downloaded. Every failure here is a
 * {@link VADModelLoadError} that says what was wrong, where it looked and what to do.
 */

/** The model's input names (Silero v5); anything else is refused at load. */
export const SILERO_V5_INPUTS: readonly string[] = ["input", "state", "sr"];

/**
 * Path of the Silero VAD v5 model shipped with voicepipe (`models/silero_vad_v5.onnx` in the
 * package; the same relative place from `src/` and from `dist/`). Never throws: a missing file
 * is reported when the model is loaded.
 */
export function defaultSileroModelPath(): string {
  return fileURLToPath(new URL("../../../models/silero_vad_v5.onnx", import.meta.url));
}

/** Throws a {@link VADModelLoadError} that names `path` and says how to fix it unless the file can be read. */
export async function assertModelReadable(path: string): Promise<void> {
  try {
    await access(path);
  } catch (error) {
    const fix =
      path === defaultSileroModelPath()
        ? "This is the model shipped with voicepipe, so the installed package is incomplete: reinstall voicepipe."
        : "Pass { modelPath } pointing at a Silero VAD v5 .onnx file, or leave modelPath unset to use the " +
          `one shipped with voicepipe (${defaultSileroModelPath()}).`;
    throw new VADModelLoadError(
      `Silero VAD: the model file ${path} does not exist or cannot be read (${describe(error)}). ${fix}`,
      { cause: error },
    );
  }
}

/** The error for a file the runtime could not load as a model. */
export function unloadableModel(path: string, error: unknown): VADModelLoadError {
  return new VADModelLoadError(
    `Silero VAD: the runtime could not load ${path} as a model (${describe(error)}). ` +
      "It must be a Silero VAD v5 .onnx file (inputs input, state, sr); leave modelPath unset to use " +
      "the one shipped with voicepipe.",
    { cause: error },
  );
}

/** Throws unless `inputNames` are Silero v5's (legacy v4 models take `h`/`c` instead of `state`). */
export function assertSileroV5(path: string, inputNames: readonly string[]): void {
  if (SILERO_V5_INPUTS.every((name) => inputNames.includes(name))) return;
  throw new VADModelLoadError(
    `Silero VAD: ${path} has inputs [${inputNames.join(", ")}], so it is not a Silero VAD v5 model ` +
      `(expected ${SILERO_V5_INPUTS.join(", ")}; legacy v4 models are not supported). Leave modelPath ` +
      "unset to use the v5 model shipped with voicepipe.",
  );
}
