import { type WasmAllocation, disownWasm, releaseWasm, watchWasm } from "../wasm-allocation.js";
import { InvalidOptionError } from "../../errors.js";
import { createStreamResampler } from "../resampler.js";
import type { StreamResampler } from "../resampler.js";
import { AudioFilterNotStartedError } from "./audio-filter.js";
import type { AudioFilter } from "./audio-filter.js";
import { RNNOISE_FRAME_SIZE, RNNOISE_SAMPLE_RATE, RNNoiseError, loadRNNoiseModule } from "./rnnoise-wasm.js";
import type { RNNoiseModule } from "./rnnoise-wasm.js";

/** Everything a started filter holds. */
interface Running {
  readonly sampleRate: number;
  readonly module: RNNoiseModule;
  readonly allocation: WasmAllocation;
  readonly inPtr: number;
  readonly outPtr: number;
  /** `sampleRate` → 48 kHz, or `undefined` at 48 kHz. */
  readonly toModel: StreamResampler | undefined;
  /** 48 kHz → `sampleRate`, or `undefined` at 48 kHz. */
  readonly fromModel: StreamResampler | undefined;
  /** The partial 10 ms frame waiting for more input, in PCM16 scale. */
  readonly pending: Float32Array;
  pendingCount: number;
}

/** Options for {@link RNNoiseFilter}. */
export interface RNNoiseFilterOptions {
  /** Whether the filter starts enabled. @default true */
  enabled?: boolean;
}

/**
 * Noise suppression with RNNoise (Xiph's recurrent-network denoiser, BSD-3; the WebAssembly build
 * from `@jitsi/rnnoise-wasm`). Strong on stationary noise (fans, hiss, hum): white noise alone is
 * attenuated by well over 20 dB, while speech keeps its level.
 *
 * RNNoise works on 10 ms frames of 480 samples at 48 kHz. Other input rates are resampled to
 * 48 kHz and back with the stream resampler; partial frames are buffered. So `filter()` returns
 * whole 10 ms frames' worth of audio, and the output lags the input by less than 10 ms of buffering
 * plus the two resamplers' delays (about 3 ms each at 16 kHz; none at 48 kHz). Over a stream the
 * output is never longer than the input.
 *
 * The WebAssembly module (1.9 MB, loaded on the first `start()`) is shared by every filter in the
 * process; each filter has its own denoiser state (per stream). Mono input only.
 *
 * @example
 * const filter = new RNNoiseFilter();
 * await filter.start(16000);
 * const clean = filter.filter(micChunk);
 * await filter.stop();
 */
export class RNNoiseFilter implements AudioFilter {
  #enabled: boolean;
  #running: Running | undefined;
  #vadProbability = 0;
  /** Counts starts and stops: a start whose count is no longer current was stopped (or overtaken) while it loaded. */
  #generation = 0;

  constructor(options: RNNoiseFilterOptions = {}) {
    this.#enabled = options.enabled ?? true;
  }

  /** Whether `filter()` denoises; when `false` it returns its input. Toggling drops buffered audio. */
  get enabled(): boolean {
    return this.#enabled;
  }

  set enabled(value: boolean) {
    if (value === this.#enabled) return;
    this.#enabled = value;
    const running = this.#running;
    if (!running) return;
    running.pendingCount = 0;
    running.toModel?.reset();
    running.fromModel?.reset();
  }

  /** RNNoise's voice probability (0 … 1) for the last frame it processed; 0 before the first. */
  get vadProbability(): number {
    return this.#vadProbability;
  }

  /** The rate given to `start()`, or `undefined` when stopped. */
  get sampleRate(): number | undefined {
    return this.#running?.sampleRate;
  }

  /**
   * Loads RNNoise (once per process) and allocates this filter's state for mono audio at
   * `sampleRate` Hz. Starting a started filter restarts it with fresh state. A `stop()` or another
   * `start()` while it loads wins: this start then allocates nothing and resolves.
   */
  async start(sampleRate: number): Promise<void> {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
      throw new InvalidOptionError(
        `RNNoiseFilter.start: sampleRate must be a positive integer in Hz (got ${sampleRate})`,
      );
    }
    const generation = ++this.#generation;
    this.#release();
    const resample = sampleRate !== RNNOISE_SAMPLE_RATE;
    const [module, toModel, fromModel] = await Promise.all([
      loadRNNoiseModule(),
      resample ? createStreamResampler({ inRate: sampleRate, outRate: RNNOISE_SAMPLE_RATE }) : undefined,
      resample ? createStreamResampler({ inRate: RNNOISE_SAMPLE_RATE, outRate: sampleRate }) : undefined,
    ]);
    if (generation !== this.#generation) {
      toModel?.dispose();
      fromModel?.dispose();
      return;
    }
    const state = module._rnnoise_create(0);
    const allocation: WasmAllocation = {
      free: (p) => module._free(p),
      destroy: (st) => module._rnnoise_destroy(st),
      state,
      pointers: [],
    };
    const inPtr = module._malloc(RNNOISE_FRAME_SIZE * 4);
    const outPtr = module._malloc(RNNOISE_FRAME_SIZE * 4);
    allocation.pointers.push(...[inPtr, outPtr].filter((p) => p !== 0));
    if (state === 0 || inPtr === 0 || outPtr === 0) {
      releaseWasm(allocation);
      toModel?.dispose();
      fromModel?.dispose();
      throw new RNNoiseError(
        "RNNoise could not allocate a denoiser (out of WebAssembly memory); stop unused filters",
      );
    }
    this.#running = {
      sampleRate,
      module,
      allocation,
      inPtr,
      outPtr,
      toModel,
      fromModel,
      pending: new Float32Array(RNNOISE_FRAME_SIZE),
      pendingCount: 0,
    };
    this.#vadProbability = 0;
    watchWasm(this, allocation);
  }

  /**
   * Denoises the next chunk (mono PCM16 at the started rate). Returns only whole processed frames,
   * so the result may be shorter than `chunk`, or empty. Throws {@link AudioFilterNotStartedError}
   * before `start()` or after `stop()`.
   */
  filter(chunk: Int16Array): Int16Array {
    const running = this.#running;
    if (!running) throw new AudioFilterNotStartedError("RNNoiseFilter");
    if (!this.#enabled) return chunk;
    const input = running.toModel ? running.toModel.resample(chunk) : chunk;
    const frames = Math.floor((running.pendingCount + input.length) / RNNOISE_FRAME_SIZE);
    const denoised = new Int16Array(frames * RNNOISE_FRAME_SIZE);
    const { pending, allocation, inPtr, outPtr, module } = running;
    let written = 0;
    for (let i = 0; i < input.length; i++) {
      pending[running.pendingCount++] = input[i]!;
      if (running.pendingCount < RNNOISE_FRAME_SIZE) continue;
      running.pendingCount = 0;
      // The heap view is read per frame: a memory growth elsewhere in the module replaces it.
      module.HEAPF32.set(pending, inPtr >> 2);
      this.#vadProbability = module._rnnoise_process_frame(allocation.state, outPtr, inPtr);
      const heap = module.HEAPF32;
      for (let j = 0, k = outPtr >> 2; j < RNNOISE_FRAME_SIZE; j++, k++) {
        const v = Math.round(heap[k]!);
        denoised[written++] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    return running.fromModel ? running.fromModel.resample(denoised) : denoised;
  }

  /** Frees the denoiser state, buffers and resamplers. Buffered partial frames are dropped. Idempotent. */
  async stop(): Promise<void> {
    this.#generation++;
    this.#release();
  }

  #release(): void {
    const running = this.#running;
    if (!running) return;
    this.#running = undefined;
    disownWasm(this);
    releaseWasm(running.allocation);
    running.toModel?.dispose();
    running.fromModel?.dispose();
  }
}
