import type { Clock } from "../../clock/clock.js";
import { deadline } from "../../clock/deadline.js";
import { untilAborted } from "../../clock/when-aborted.js";
import type { PieceStall } from "./piece-stall.js";
import type { SynthesisOutput } from "./tts-service.js";

/**
 * Reads a TTS engine's outputs one at a time under a piece's stall bound and abort signal, and
 * remembers the read under way: an engine stopped early is let go ({@link letGo}) by waiting for
 * that read, then for its `return()`.
 */
export class EngineReads {
  /** The read under way, if any. */
  #pending: Promise<IteratorResult<SynthesisOutput>> | undefined;

  constructor(
    readonly iterator: AsyncIterator<SynthesisOutput>,
    private readonly stall: PieceStall,
    private readonly signal: AbortSignal,
  ) {}

  /** The engine's next output; rejects with the signal's reason once it aborts (a stall, a deadline, a barge-in). */
  async next(): Promise<IteratorResult<SynthesisOutput>> {
    this.stall.waiting();
    const pending = (this.#pending = this.iterator.next());
    const result = await untilAborted(pending, this.signal);
    this.stall.progressed();
    this.#pending = undefined;
    return result;
  }

  /**
   * Waits for an engine that was told to stop to finish its `finally`: the read under way settles once
   * it has, then `return()` closes the iterator; each wait at most `releaseTimeoutMs`. Rejects with
   * the deadline's error if the engine is still holding on.
   */
  async letGo(clock: Clock, releaseTimeoutMs: number, what: string): Promise<void> {
    const pending = this.#pending;
    if (pending) await deadline(clock, pending.then(noop, noop), releaseTimeoutMs, what, { io: true });
    const closing = this.iterator.return?.();
    if (closing) await deadline(clock, closing.then(noop, noop), releaseTimeoutMs, what, { io: true });
  }
}

function noop(): void {}
