/**
 * Memory one object holds inside a WebAssembly module (a resampler's or a noise filter's state
 * and buffers): freed by `releaseWasm()`, or by the garbage collector when the owner was
 * dropped without being disposed, so nothing leaks per session.
 */
export interface WasmAllocation {
  /** The module's allocator. */
  readonly free: (pointer: number) => void;
  /** Destroys the library's state object (`0`: none). */
  readonly destroy: (state: number) => void;
  state: number;
  readonly pointers: number[];
}

/** Frees everything `allocation` holds. Idempotent. */
export function releaseWasm(allocation: WasmAllocation): void {
  if (allocation.state !== 0) allocation.destroy(allocation.state);
  for (const pointer of allocation.pointers) allocation.free(pointer);
  allocation.state = 0;
  allocation.pointers.length = 0;
}

const leaked = new FinalizationRegistry<WasmAllocation>(releaseWasm);

/** Frees `allocation` when `owner` is collected without having called {@link disownWasm}. */
export function watchWasm(owner: object, allocation: WasmAllocation): void {
  leaked.register(owner, allocation, owner);
}

/** `owner` released its allocation itself: stop watching it. */
export function disownWasm(owner: object): void {
  leaked.unregister(owner);
}
