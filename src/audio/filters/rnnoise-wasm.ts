/**
 * RNNoise 0.2 compiled to WebAssembly (`@jitsi/rnnoise-wasm`, `dist/rnnoise-sync.js`): one module
 * instance per process, shared by every {@link RNNoiseFilter}; each filter owns its own denoiser
 * state and frame buffers in the module's memory.
 *
 * Internal: the public API is `rnnoise-filter.ts`.
 */
import { VoicepipeError, describe } from "../../errors.js";

/** The RNNoise WebAssembly module failed to load or to allocate a denoiser. */
export class RNNoiseError extends VoicepipeError {
  readonly code = "VP_RNNOISE_FAILED";
}

/** The C functions and heap views of the Emscripten module that the filter uses. */
export interface RNNoiseModule {
  readonly HEAPF32: Float32Array;
  readonly ready?: Promise<unknown>;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  /** `rnnoise_create(model)`: `model` 0 selects the built-in model. */
  _rnnoise_create(model: number): number;
  _rnnoise_destroy(state: number): void;
  /** Denoises one 480-sample frame (floats in PCM16 scale); returns the voice probability 0 … 1. */
  _rnnoise_process_frame(state: number, outPtr: number, inPtr: number): number;
}

/** RNNoise's frame: 480 samples, 10 ms at 48 kHz. */
export const RNNOISE_FRAME_SIZE = 480;
/** The only rate RNNoise works at, in Hz. */
export const RNNOISE_SAMPLE_RATE = 48000;

let loading: Promise<RNNoiseModule> | undefined;

async function instantiate(): Promise<RNNoiseModule> {
  // Imported on first use: the package inlines a 1.9 MB wasm binary as base64.
  const { default: create } = await import("@jitsi/rnnoise-wasm/dist/rnnoise-sync.js");
  const module = create() as RNNoiseModule;
  await module.ready;
  return module;
}

/** The process-wide RNNoise module, loaded on first use. A failed load is not cached. */
export function loadRNNoiseModule(): Promise<RNNoiseModule> {
  loading ??= instantiate().catch((error: unknown) => {
    loading = undefined;
    throw new RNNoiseError(
      `could not load the RNNoise WebAssembly module (@jitsi/rnnoise-wasm): ${describe(error)}; check that the package is installed`,
      { cause: error },
    );
  });
  return loading;
}
