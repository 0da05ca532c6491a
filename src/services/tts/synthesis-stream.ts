import type { SynthesisOutput } from "./tts-service.js";

/**
 * The output of one piece being spoken by a streaming provider: the socket's message handler
 * {@link push}es audio and word timings as they arrive and {@link end}s (or {@link fail}s) it at
 * the piece's end marker; the service's `synthesize` yields {@link read}. No timer: the base's
 * stall and synthesis deadlines bound the reader's waits.
 *
 * Bound: what is pushed and not yet read, at most one piece's output (the base reads each item as
 * soon as it can push a frame). After `end`, `fail` or the reader's abort, pushes are refused.
 */
export class SynthesisStream {
  readonly #items: SynthesisOutput[] = [];
  #head = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  /** True once {@link end} or {@link fail} was called. */
  get closed(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  /** Adds output for the reader; false (and nothing kept) once the stream is closed. */
  push(output: SynthesisOutput): boolean {
    if (this.closed) return false;
    this.#items.push(output);
    this.#notify();
    return true;
  }

  /** The piece is complete: the reader finishes after what was pushed. */
  end(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#notify();
  }

  /** The piece failed: the reader throws `error` after what was pushed. */
  fail(error: Error): void {
    if (this.closed) return;
    this.#error = error;
    this.#notify();
  }

  /** Yields what is pushed, in order, until the end; rejects with `signal.reason` on abort. */
  async *read(signal: AbortSignal): AsyncGenerator<SynthesisOutput, void, undefined> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head]!;
        this.#items[this.#head++] = EMPTY; // let it go now; the array is dropped with the stream
        if (this.#head === this.#items.length) {
          this.#items.length = 0;
          this.#head = 0;
        }
        yield item;
        continue;
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return;
      await this.#next(signal);
    }
  }

  #next(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#wake = undefined;
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#wake = () => {
        signal.removeEventListener("abort", onAbort);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #notify(): void {
    this.#wake?.();
  }
}

const EMPTY = new Int16Array(0);
