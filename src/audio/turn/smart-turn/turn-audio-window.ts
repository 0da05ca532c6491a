/**
 * The audio of one user turn that an end-of-turn model sees: the newest `capacity` samples since
 * the turn began, plus at most `preSpeechSamples` of the quiet before its first speech (so the
 * model hears the onset the VAD confirmed late). A fixed ring buffer: its memory never grows with
 * the turn's length (docs/design/smart-turn.md).
 */
export class TurnAudioWindow {
  readonly #ring: Int16Array;
  /** Index of the next sample to write. */
  #head = 0;
  /** Samples held (≤ capacity). */
  #length = 0;
  #speechSeen = false;

  /**
   * @param capacity samples kept once speech has begun (Smart Turn: 8 s at 16 kHz).
   * @param preSpeechSamples samples of quiet kept before the first speech.
   */
  constructor(
    readonly capacity: number,
    readonly preSpeechSamples: number,
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0)
      throw new RangeError(`TurnAudioWindow: capacity must be a positive integer (got ${capacity})`);
    if (!Number.isInteger(preSpeechSamples) || preSpeechSamples < 0 || preSpeechSamples > capacity) {
      throw new RangeError(
        `TurnAudioWindow: preSpeechSamples must be an integer from 0 to capacity (got ${preSpeechSamples})`,
      );
    }
    this.#ring = new Int16Array(capacity);
  }

  /** Samples held now. */
  get length(): number {
    return this.#length;
  }

  /** Whether any audio marked as speech arrived since the last {@link clear}. */
  get speechSeen(): boolean {
    return this.#speechSeen;
  }

  /** Adds `audio`; the oldest samples go once the window is full (or, before speech, past the pre-speech allowance). */
  append(audio: Int16Array, isSpeech: boolean): void {
    if (isSpeech) this.#speechSeen = true;
    const ring = this.#ring;
    const cap = ring.length;
    // Only the newest `cap` samples of a long chunk can stay.
    const src = audio.length > cap ? audio.subarray(audio.length - cap) : audio;
    const first = Math.min(src.length, cap - this.#head);
    ring.set(src.subarray(0, first), this.#head);
    if (first < src.length) ring.set(src.subarray(first), 0);
    this.#head = (this.#head + src.length) % cap;
    const limit = this.#speechSeen ? cap : this.preSpeechSamples;
    this.#length = Math.min(limit, this.#length + src.length);
  }

  /**
   * The samples held, oldest first, right-aligned in `out` (default: a new array of `capacity`)
   * with zeros before them: Smart Turn's "pad at the start" layout.
   */
  copyPadded(out = new Int16Array(this.capacity)): Int16Array {
    if (out.length < this.#length)
      throw new RangeError("TurnAudioWindow: out is shorter than the audio held");
    const ring = this.#ring;
    const cap = ring.length;
    const n = this.#length;
    const offset = out.length - n;
    out.fill(0, 0, offset);
    const start = (this.#head - n + cap) % cap;
    const first = Math.min(n, cap - start);
    out.set(ring.subarray(start, start + first), offset);
    if (first < n) out.set(ring.subarray(0, n - first), offset + first);
    return out;
  }

  /** Forgets the turn. */
  clear(): void {
    this.#head = 0;
    this.#length = 0;
    this.#speechSeen = false;
  }
}
