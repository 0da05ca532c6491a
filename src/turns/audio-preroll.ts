/**
 * The newest `maxMs` of audio, kept as the chunks it came in (no copy): what was heard just
 * before the VAD confirmed speech, which the VAD's own start delay (`startMs`) would otherwise
 * cut from the front of a turn. Bounded: at most `maxMs` plus one chunk.
 */
export class AudioPreroll {
  readonly #chunks: Int16Array[] = [];
  #samples = 0;
  readonly #maxSamples: number;

  constructor(
    readonly maxMs: number,
    readonly sampleRate: number,
  ) {
    this.#maxSamples = Math.ceil((maxMs * sampleRate) / 1000);
  }

  /** Samples held. */
  get samples(): number {
    return this.#samples;
  }

  push(chunk: Int16Array): void {
    if (this.#maxSamples === 0 || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#samples += chunk.length;
    // Drop whole chunks from the front while the rest still covers maxMs.
    while (this.#chunks.length > 1 && this.#samples - this.#chunks[0]!.length >= this.#maxSamples) {
      this.#samples -= this.#chunks.shift()!.length;
    }
  }

  /** Hands every chunk held, oldest first, to `take`, and forgets them. */
  drain(take: (chunk: Int16Array) => void): void {
    for (const c of this.#chunks) take(c);
    this.clear();
  }

  clear(): void {
    this.#chunks.length = 0;
    this.#samples = 0;
  }
}
