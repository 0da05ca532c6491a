/**
 * An end that has an `AbortSignal` only if somebody asks for one. Every processor has a lifetime
 * and a turn that may end, but most never hand their signal to anything; an `AbortController` is
 * costly to make on Node 20 (an event target each), and made twice per processor it was the
 * largest cost of creating and ending a task there. Ending before the signal exists is
 * remembered: the signal, made later, is already aborted with the same reason. @internal
 */
export class LazySignal {
  #control: AbortController | undefined;
  #ended = false;
  #reason: unknown;

  /** Whether {@link end} has been called. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The signal, made now if it was never asked for; aborted already if the end came first. */
  get signal(): AbortSignal {
    if (this.#control === undefined) {
      this.#control = new AbortController();
      if (this.#ended) this.#control.abort(this.#reason);
    }
    return this.#control.signal;
  }

  /** Ends it with `reason` (the first call wins; later calls do nothing). */
  end(reason: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#reason = reason;
    this.#control?.abort(reason);
  }
}
