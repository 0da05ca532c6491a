import { type Frame, isUninterruptible } from "../frames/frame.js";

/**
 * TTS contexts (a context is one bot response) remembered once their audio has started playing;
 * those whose audio is still all queued are kept too (forgetting one would send its words by
 * their `pts`, before its audio), up to {@link MAX_WAITING_CONTEXTS}.
 */
const MAX_CONTEXTS = 16;
/** Most contexts remembered at all (many responses with no audio would otherwise all wait). */
const MAX_WAITING_CONTEXTS = 1_024;

interface Held {
  /** The output chunk (counted from the sender's start) that holds the frame's moment. */
  chunk: number;
  readonly contextId: string;
  readonly frame: Frame;
}

/**
 * Where a context's audio is in the output: its first chunk (NaN once an interruption dropped
 * it: later audio of the same id cannot be placed against the old offsets) and its last chunk
 * (known at its `TTSStoppedFrame`; Infinity until then).
 */
interface Placement {
  start: number;
  end: number;
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
 * {@link MAX_CONTEXTS} contexts and of those whose audio has not started playing; holds frames
 * (bounded by the caller) until their chunk is written. Knows nothing of time.
 */
export class AudioAnchoredFrames {
  /** Chunks of audio queued so far (the next chunk queued has this number). */
  #queued = 0;
  /** Chunks taken off the queue to be written so far (the next one written has this number). */
  #written = 0;
  /** Where each context's audio went, by context id; oldest first. */
  readonly #starts = new Map<string, Placement>();
  /** Frames waiting for their chunk, in chunk order (frames of one chunk in arrival order). */
  #held: Held[] = [];

  constructor(private readonly chunkMs: number) {}

  get length(): number {
    return this.#held.length;
  }

  /** Audio of `contextId` is about to be queued: its first sample goes into the next chunk. */
  audioQueued(contextId: string | undefined): void {
    if (contextId === undefined) return;
    const known = this.#starts.get(contextId);
    if (known) {
      known.end = Infinity; // more audio of a response that said it stopped: it goes on
      return;
    }
    this.#starts.set(contextId, { start: this.#queued, end: Infinity });
    this.#forget();
  }

  /** Forgets the oldest contexts past {@link MAX_CONTEXTS} whose audio has started playing (or was dropped). */
  #forget(): void {
    for (const [id, known] of this.#starts) {
      if (this.#starts.size <= MAX_CONTEXTS) return;
      if (!(known.start >= this.#written)) this.#starts.delete(id); // NaN (dropped) goes too
    }
    if (this.#starts.size > MAX_WAITING_CONTEXTS) this.#starts.delete(this.#starts.keys().next().value!);
  }

  /**
   * All the audio of `contextId` is queued (its `TTSStoppedFrame`): a frame placed beyond it
   * (an offset past the audio) goes with its last chunk instead of waiting for unrelated audio
   * or the end of the session. Frames whose chunk was written already are handed to `now`.
   */
  contextEnded(contextId: string, now: (frame: Frame) => void): void {
    const known = this.#starts.get(contextId);
    if (!known || Number.isNaN(known.start)) return;
    known.end = Math.max(known.start, this.#queued - 1);
    let moved = false;
    for (const h of this.#held) {
      if (h.contextId === contextId && h.chunk > known.end) {
        h.chunk = known.end;
        moved = true;
      }
    }
    if (!moved) return;
    this.#held.sort((a, b) => a.chunk - b.chunk); // stable: arrival order kept within a chunk
    let n = 0;
    while (n < this.#held.length && this.#held[n]!.chunk < this.#written) now(this.#held[n++]!.frame);
    if (n > 0) this.#held.splice(0, n);
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
    const known = this.#starts.get(contextId);
    if (known === undefined || Number.isNaN(known.start) || !Number.isFinite(offsetMs)) return false;
    const chunk = Math.min(known.end, known.start + Math.max(0, Math.floor(offsetMs / this.chunkMs)));
    if (chunk < this.#written) {
      now(frame);
      return true;
    }
    // Words arrive in order, so this is almost always an append.
    let at = this.#held.length;
    while (at > 0 && this.#held[at - 1]!.chunk > chunk) at--;
    this.#held.splice(at, 0, { chunk, contextId, frame });
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
   * contexts started in it cannot be placed any more (later audio of the same id would give the
   * old offsets a wrong start; their frames wait for their `pts`) and interruptible frames go.
   * Uninterruptible frames are handed to `take` (their audio is gone; they still go out, in order).
   */
  audioDropped(take: (frame: Frame) => void): void {
    this.#written = this.#queued;
    for (const known of this.#starts.values()) known.start = NaN;
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
