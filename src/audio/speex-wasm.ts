/**
 * The SpeexDSP resampler compiled to WebAssembly (`@echogarden/speex-resampler-wasm`, BSD-3):
 * one module instance per process, shared by every stream (docs/design/principles.md: sessions are cheap), and {@link SpeexState},
 * one stream's resampler state plus its own input/output buffers in the module's memory.
 *
 * Internal: the public API is `resampler.ts`.
 */
import { type WasmAllocation, disownWasm, releaseWasm, watchWasm } from "./wasm-allocation.js";
import { VoicepipeError, describe } from "../errors.js";

/** The resampler's WebAssembly module failed to load, or a call into it failed. */
export class ResamplerError extends VoicepipeError {
  readonly code = "VP_RESAMPLER_FAILED";
}

/** The C functions and heap views of the Emscripten module that this file uses. */
interface SpeexModule {
  readonly HEAP16: Int16Array;
  readonly HEAP32: Int32Array;
  readonly HEAPU32: Uint32Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _speex_resampler_init(
    channels: number,
    inRate: number,
    outRate: number,
    quality: number,
    errPtr: number,
  ): number;
  _speex_resampler_destroy(state: number): void;
  _speex_resampler_process_interleaved_int(
    state: number,
    inPtr: number,
    inLenPtr: number,
    outPtr: number,
    outLenPtr: number,
  ): number;
  _speex_resampler_get_input_latency(state: number): number;
  _speex_resampler_get_output_latency(state: number): number;
  _speex_resampler_skip_zeros(state: number): number;
  _speex_resampler_reset_mem(state: number): number;
}

let loading: Promise<SpeexModule> | undefined;

async function instantiate(): Promise<SpeexModule> {
  try {
    const { default: create } = await import("@echogarden/speex-resampler-wasm/simd");
    return (await create()) as SpeexModule;
  } catch {
    // A runtime without WebAssembly SIMD: fall back to the portable build.
    const { default: create } = await import("@echogarden/speex-resampler-wasm");
    return (await create()) as SpeexModule;
  }
}

/**
 * The process-wide resampler module, loaded on first use. A failed load is not cached, so a later
 * call tries again.
 */
export function loadSpeexModule(): Promise<SpeexModule> {
  loading ??= instantiate().catch((error: unknown) => {
    loading = undefined;
    throw new ResamplerError(
      `could not load the SpeexDSP resampler WebAssembly module (@echogarden/speex-resampler-wasm): ${describe(error)}; ` +
        "check that the package is installed",
      { cause: error },
    );
  });
  return loading;
}

/** Input frames handed to SpeexDSP per call; longer chunks are processed in a loop. */
export const SPEEX_BLOCK_FRAMES = 4096;

/**
 * One SpeexDSP resampler state with its own input and output buffers in wasm memory.
 * Not reentrant across awaits (it never awaits), so streams sharing the module cannot interleave.
 */
export class SpeexState {
  readonly #module: SpeexModule;
  readonly #allocation: WasmAllocation;
  readonly #channels: number;
  readonly #inPtr: number;
  readonly #outPtr: number;
  readonly #inLenPtr: number;
  readonly #outLenPtr: number;
  readonly #outCapacityFrames: number;
  /** Input latency of the filter, in input frames (half the filter length). */
  readonly inputLatencyFrames: number;
  /** Output latency of the filter, in output frames. */
  readonly outputLatencyFrames: number;

  constructor(
    module: SpeexModule,
    options: { channels: number; inRate: number; outRate: number; quality: number; skipZeros: boolean },
  ) {
    const { channels, inRate, outRate, quality } = options;
    this.#module = module;
    this.#channels = channels;
    this.#outCapacityFrames = Math.ceil((SPEEX_BLOCK_FRAMES * outRate) / inRate) + 16;
    const errPtr = module._malloc(4);
    const state = module._speex_resampler_init(channels, inRate, outRate, quality, errPtr);
    const err = module.HEAP32[errPtr >> 2]!;
    module._free(errPtr);
    if (state === 0 || err !== 0) {
      if (state !== 0) module._speex_resampler_destroy(state);
      throw new ResamplerError(
        `SpeexDSP could not create a resampler for ${inRate} Hz → ${outRate} Hz, ${channels} channel(s), quality ${quality} (error ${err})`,
      );
    }
    this.#allocation = {
      free: (p) => module._free(p),
      destroy: (st) => module._speex_resampler_destroy(st),
      state,
      pointers: [],
    };
    const alloc = (bytes: number): number => {
      const pointer = module._malloc(bytes);
      if (pointer === 0) {
        releaseWasm(this.#allocation);
        throw new ResamplerError(`out of WebAssembly memory allocating ${bytes} bytes for a resampler`);
      }
      this.#allocation.pointers.push(pointer);
      return pointer;
    };
    this.#inPtr = alloc(SPEEX_BLOCK_FRAMES * channels * 2);
    this.#outPtr = alloc(this.#outCapacityFrames * channels * 2);
    this.#inLenPtr = alloc(4);
    this.#outLenPtr = alloc(4);
    watchWasm(this, this.#allocation);
    if (options.skipZeros) module._speex_resampler_skip_zeros(state);
    this.inputLatencyFrames = module._speex_resampler_get_input_latency(state);
    this.outputLatencyFrames = module._speex_resampler_get_output_latency(state);
  }

  /**
   * Resamples `input` (whole interleaved frames) and returns everything SpeexDSP produced.
   * `expectedFrames` sizes the output so the usual case needs no second copy.
   */
  process(input: Int16Array, expectedFrames: number): Int16Array {
    const module = this.#module;
    const state = this.#allocation.state;
    const channels = this.#channels;
    const totalFrames = input.length / channels;
    let out = new Int16Array(expectedFrames * channels);
    let written = 0;
    let offset = 0;
    while (offset < totalFrames) {
      const frames = Math.min(totalFrames - offset, SPEEX_BLOCK_FRAMES);
      // Heap views are read after every malloc-free stretch: a memory growth replaces them.
      module.HEAP16.set(input.subarray(offset * channels, (offset + frames) * channels), this.#inPtr >> 1);
      module.HEAPU32[this.#inLenPtr >> 2] = frames;
      module.HEAPU32[this.#outLenPtr >> 2] = this.#outCapacityFrames;
      const status = module._speex_resampler_process_interleaved_int(
        state,
        this.#inPtr,
        this.#inLenPtr,
        this.#outPtr,
        this.#outLenPtr,
      );
      const consumed = module.HEAPU32[this.#inLenPtr >> 2]!;
      const produced = module.HEAPU32[this.#outLenPtr >> 2]!;
      if (status !== 0 || (consumed === 0 && produced === 0)) {
        throw new ResamplerError(
          `SpeexDSP stopped processing (status ${status}, ${consumed} frames consumed)`,
        );
      }
      const samples = produced * channels;
      if (written + samples > out.length) {
        const grown = new Int16Array(Math.max(out.length * 2, written + samples));
        grown.set(out.subarray(0, written));
        out = grown;
      }
      const start = this.#outPtr >> 1;
      out.set(module.HEAP16.subarray(start, start + samples), written);
      written += samples;
      offset += consumed;
    }
    return written === out.length ? out : out.slice(0, written);
  }

  /** Clears the filter memory: the next input is processed as the start of a new stream. */
  reset(): void {
    this.#module._speex_resampler_reset_mem(this.#allocation.state);
  }

  /** Frees the state and its buffers. Idempotent. */
  destroy(): void {
    disownWasm(this);
    releaseWasm(this.#allocation);
  }
}
