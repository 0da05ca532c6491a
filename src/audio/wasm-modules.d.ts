/**
 * Ambient declarations for the two untyped WebAssembly packages the audio layer loads. Only the
 * factory's shape is declared here; the modules' exported C functions are typed where they are
 * used (`speex-wasm.ts`, `filters/rnnoise-wasm.ts`).
 */

declare module "@echogarden/speex-resampler-wasm/simd" {
  /** Emscripten factory: instantiates the SpeexDSP resampler (WebAssembly SIMD build). */
  const createModule: (overrides?: Record<string, unknown>) => Promise<unknown>;
  export default createModule;
}

declare module "@echogarden/speex-resampler-wasm" {
  /** Emscripten factory: instantiates the SpeexDSP resampler (portable build, no SIMD). */
  const createModule: (overrides?: Record<string, unknown>) => Promise<unknown>;
  export default createModule;
}

declare module "@jitsi/rnnoise-wasm/dist/rnnoise-sync.js" {
  /** Emscripten factory: instantiates RNNoise 0.2 synchronously (the wasm is inlined). */
  const createModule: (overrides?: Record<string, unknown>) => unknown;
  export default createModule;
}
