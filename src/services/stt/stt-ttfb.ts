/**
 * The STT's time to first byte: from the user's stop to the final transcript of what they said.
 * Holds one pending stop at a time and no timer: a stop whose answer never comes is forgotten at
 * the next stop, or when an answer arrives past the window.
 */
export class STTTtfb {
  readonly #windowMs: number;
  /** When the user stopped (ms of the task clock), while the final is awaited. */
  #stoppedAt: number | undefined;
  /** The provider was asked to finalize: only its answer (`fromFinalize`) ends the wait. */
  #awaitingFinalize = false;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** The user stopped at `nowMs`; `finalizing`: the provider was asked for the final now. */
  stopped(nowMs: number, finalizing: boolean): void {
    this.#stoppedAt = nowMs;
    this.#awaitingFinalize = finalizing;
  }

  /** The user started speaking again: a stop still awaited no longer has a meaningful answer. */
  reset(): void {
    this.#stoppedAt = undefined;
    this.#awaitingFinalize = false;
  }

  /**
   * A final result arrived at `nowMs`. Returns the TTFB in ms when it answers the pending stop
   * within the window, else undefined. With a finalize asked, only a `fromFinalize` result
   * answers (an earlier final is for speech before the stop).
   */
  final(nowMs: number, fromFinalize: boolean): number | undefined {
    const stoppedAt = this.#stoppedAt;
    if (stoppedAt === undefined) return undefined;
    if (this.#awaitingFinalize && !fromFinalize) return undefined;
    this.reset();
    const ttfb = nowMs - stoppedAt;
    return ttfb <= this.#windowMs ? ttfb : undefined;
  }
}
