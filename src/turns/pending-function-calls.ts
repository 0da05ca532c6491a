import {
  FunctionCallCancelFrame,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
} from "../frames/function-calls.js";
import type { Frame } from "../frames/frame.js";

/** Most calls tracked at once; past it the oldest is forgotten (a runner that never settles). */
const MAX_CALLS = 256;

/**
 * Which function calls are running, from the frames that say so (either direction, each copy
 * counted once by its `toolCallId`): `FunctionCallsStartedFrame` adds its calls,
 * `FunctionCallResultFrame` and `FunctionCallCancelFrame` settle one. Bounded: at most 256
 * calls are tracked.
 */
export class PendingFunctionCalls {
  readonly #ids = new Set<string>();

  /** Whether some call has not settled. */
  get running(): boolean {
    return this.#ids.size > 0;
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Reads `frame`; returns true when the running state changed. */
  observe(frame: Frame): boolean {
    const before = this.running;
    if (frame instanceof FunctionCallsStartedFrame) {
      for (const call of frame.calls) {
        this.#ids.add(call.toolCallId);
        if (this.#ids.size > MAX_CALLS) this.#ids.delete(this.#ids.values().next().value!);
      }
    } else if (frame instanceof FunctionCallResultFrame || frame instanceof FunctionCallCancelFrame) {
      this.#ids.delete(frame.call.toolCallId);
    } else {
      return false;
    }
    return before !== this.running;
  }

  clear(): void {
    this.#ids.clear();
  }
}
