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
  /** Unsettled calls, by `toolCallId`, with when each started (oldest first). */
  readonly #started = new Map<string, number>();

  /** Whether some call has not settled. */
  get running(): boolean {
    return this.#started.size > 0;
  }

  get size(): number {
    return this.#started.size;
  }

  /** Reads `frame` (at `nowMs`); returns true when the running state changed. */
  observe(frame: Frame, nowMs = 0): boolean {
    const before = this.running;
    if (frame instanceof FunctionCallsStartedFrame) {
      for (const call of frame.calls) {
        this.#started.delete(call.toolCallId);
        this.#started.set(call.toolCallId, nowMs);
        if (this.#started.size > MAX_CALLS) this.#started.delete(this.#started.keys().next().value!);
      }
    } else if (frame instanceof FunctionCallResultFrame || frame instanceof FunctionCallCancelFrame) {
      this.#started.delete(frame.call.toolCallId);
    } else {
      return false;
    }
    return before !== this.running;
  }

  /** When the oldest unsettled call started (as given to {@link observe}), or undefined. */
  get oldestStartMs(): number | undefined {
    for (const startedAt of this.#started.values()) return startedAt;
    return undefined;
  }

  /**
   * Forgets the calls that started more than `maxMs` before `nowMs` and never settled (their
   * result and cancel were both lost); returns how many.
   */
  expire(nowMs: number, maxMs: number): number {
    let expired = 0;
    for (const [id, startedAt] of this.#started) {
      if (nowMs - startedAt <= maxMs) break; // oldest first: the rest are younger
      this.#started.delete(id);
      expired++;
    }
    return expired;
  }

  clear(): void {
    this.#started.clear();
  }
}
