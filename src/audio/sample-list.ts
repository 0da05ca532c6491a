/**
 * Mono PCM16 held as a list of pieces, read from the front. A piece that is a number stands for
 * that many samples of silence, allocated only when read.
 */
export class SampleList {
  #pieces: Array<Int16Array | number> = [];
  #head = 0;
  /** Samples held. */
  length = 0;

  append(audio: Int16Array): void {
    if (audio.length === 0) return;
    this.#pieces.push(audio);
    this.length += audio.length;
  }

  /** Appends `count` samples of silence (nothing for count ≤ 0). */
  pad(count: number): void {
    if (count <= 0) return;
    const last = this.#pieces.length > this.#head ? this.#pieces[this.#pieces.length - 1] : undefined;
    if (typeof last === "number") this.#pieces[this.#pieces.length - 1] = last + count;
    else this.#pieces.push(count);
    this.length += count;
  }

  /** Appends the pieces of `other` (shared, not copied: pieces are never written to). */
  appendAll(other: SampleList): void {
    for (let i = other.#head; i < other.#pieces.length; i++) {
      const piece = other.#pieces[i]!;
      if (typeof piece === "number") this.pad(piece);
      else this.append(piece);
    }
  }

  /** Removes the first `count` samples (at most `length`) and returns them in a new array. */
  take(count: number): Int16Array {
    const n = Math.min(count, this.length);
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n) {
      const piece = this.#pieces[this.#head]!;
      const size = typeof piece === "number" ? piece : piece.length;
      const use = Math.min(size, n - filled);
      if (typeof piece !== "number") out.set(use === size ? piece : piece.subarray(0, use), filled);
      filled += use;
      if (use === size) this.#shift();
      else this.#pieces[this.#head] = typeof piece === "number" ? piece - use : piece.subarray(use);
    }
    this.length -= n;
    return out;
  }

  /** Drops samples from the front until at most `count` are left. */
  keepLast(count: number): void {
    while (this.length > count) {
      const piece = this.#pieces[this.#head]!;
      const size = typeof piece === "number" ? piece : piece.length;
      const excess = this.length - count;
      if (size <= excess) {
        this.#shift();
        this.length -= size;
      } else {
        this.#pieces[this.#head] = typeof piece === "number" ? piece - excess : piece.subarray(excess);
        this.length -= excess;
      }
    }
  }

  clear(): void {
    this.#pieces = [];
    this.#head = 0;
    this.length = 0;
  }

  #shift(): void {
    this.#pieces[this.#head++] = 0;
    if (this.#head === this.#pieces.length) {
      this.#pieces = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#pieces.length) {
      this.#pieces = this.#pieces.slice(this.#head);
      this.#head = 0;
    }
  }
}
