/**
 * The audio of the one sentence in flight on a Deepgram speak socket: the socket's message
 * handler pushes binary chunks and ends it at `Flushed` (or fails it when the connection drops);
 * the service's `synthesize` reads it. Holds at most one sentence's audio (the sentence is at most
 * `maxSentenceChars`), and usually one chunk: the reader takes each as it comes.
 */
export class SentenceAudio {
  #chunks: Buffer[] = [];
  #done = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  /** Bytes waiting to be read. */
  get pendingBytes(): number {
    return this.#chunks.reduce((n, c) => n + c.length, 0);
  }

  /** A chunk of the sentence's audio arrived. Ignored once ended. */
  push(chunk: Buffer): void {
    if (this.#done) return;
    this.#chunks.push(chunk);
    this.#notify();
  }

  /** The sentence's audio is complete (`Flushed`). */
  finish(): void {
    this.#done = true;
    this.#notify();
  }

  /** The sentence cannot complete (the connection dropped): the reader rejects with `error`. */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#notify();
  }

  /**
   * The next chunk, or undefined once the sentence is complete. Rejects with the failure, or with
   * `signal.reason` when it aborts first (its listener is removed either way).
   */
  async next(signal: AbortSignal): Promise<Buffer | undefined> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const chunk = this.#chunks.shift();
      if (chunk) return chunk;
      if (this.#done) {
        if (this.#error !== undefined) throw this.#error;
        return undefined;
      }
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.#wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        signal.addEventListener("abort", onAbort, { once: true });
      });
      this.#wake = undefined;
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
