import { type Frame, isUninterruptible } from "../frames/frame.js";

/** Most TTS contexts whose first chunk is remembered (a context is one bot response). */
const MAX_CONTEXTS = 16;

interface Held {
  /** The output chunk (counted from the sender's start) that holds the frame's moment. */
  readonly chunk: number;
  readonly frame: Frame;
}

/**
 * Frames placed on the audio they belong to, not on the clock: a spoken word is released when
 * the output chunk holding its first sample is written, however long the audio queued ahead of
 * it took to play (docs/design/tts-text.md, "Word timing"). A TTS service knows where a word
 * falls in its response's audio (`audioOffsetMs`), but not when that audio will play: it
 * synthesises faster than real time, behind whatever is still queued. The output sender knows
 * which chunk each response's audio starts in, so it can place the word exactly.
 *
 * Counts chunks as the sender queues and writes them; remembers the first chunk of the last
 * {@link MAX_CONTEXTS} contexts; holds frames (bounded by the caller) until their chunk is
 * written. Knows nothing of time.
 */
export class AudioAnchoredFrames {
  /** Chunks of audio queued so far (the next chunk queued has this number). */
  #queued = 0;
  /** Chunks taken off the queue to be written so far (the next one written has this number). */
  #written = 0;
  /** The chunk a context's first sample went into, by context id; oldest first. */
  readonly #starts = new Map<string, number>();
  /** Frames waiting for their chunk, in chunk order (frames of one chunk in arrival order). */
  #held: Held[] = [];

  constructor(private readonly chunkMs: number) {}

  get length(): number {
    return this.#held.length;
  }

  /** Audio of `contextId` is about to be queued: its first sample goes into the next chunk. */
  audioQueued(contextId: string | undefined): void {
    if (contextId === undefined || this.#starts.has(contextId)) return;
    this.#starts.set(contextId, this.#queued);
    if (this.#starts.size > MAX_CONTEXTS) this.#starts.delete(this.#starts.keys().next().value!);
  }

  /** A chunk went into the queue. */
  chunkQueued(): void {
    this.#queued++;
  }

  /**
   * Places `frame` at `offsetMs` into the audio of `contextId`. Returns false when the context's
   * audio is not known here (none queued since it was forgotten): the caller falls back to the
   * frame's `pts`. A frame whose chunk was written already is handed to `now` at once.
   */
  place(frame: Frame, contextId: string, offsetMs: number, now: (frame: Frame) => void): boolean {
    const start = this.#starts.get(contextId);
    if (start === undefined || !Number.isFinite(offsetMs)) return false;
    const chunk = start + Math.max(0, Math.floor(offsetMs / this.chunkMs));
    if (chunk < this.#written) {
      now(frame);
      return true;
    }
    // Words arrive in order, so this is almost always an append.
    let at = this.#held.length;
    while (at > 0 && this.#held[at - 1]!.chunk > chunk) at--;
    this.#held.splice(at, 0, { chunk, frame });
    return true;
  }

  /** The next queued chunk is about to be written: hands over the frames that belong to it (or before). */
  chunkWritten(take: (frame: Frame) => void): void {
    const chunk = this.#written++;
    let n = 0;
    while (n < this.#held.length && this.#held[n]!.chunk <= chunk) take(this.#held[n++]!.frame);
    if (n > 0) this.#held.splice(0, n);
  }

  /** Hands every held frame over, in order (the end of the stream, or a sink that closed). */
  takeAll(take: (frame: Frame) => void): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) take(h.frame);
  }

  /**
   * The queued audio was dropped (interruption): what was queued will never be written, so
   * contexts started in it are forgotten and interruptible frames go. Uninterruptible frames
   * are handed to `take` (their audio is gone; they still go out, in order).
   */
  audioDropped(take: (frame: Frame) => void): void {
    this.#written = this.#queued;
    this.#starts.clear();
    const held = this.#held;
    this.#held = [];
    for (const h of held) if (isUninterruptible(h.frame)) take(h.frame);
  }

  /** Drops everything (cancel). */
  clear(): void {
    this.#held = [];
    this.#starts.clear();
  }
}
