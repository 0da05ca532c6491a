import { InvalidOptionError } from "../../errors.js";
import { chooseCut, findSentenceEnd, type ScanProgress } from "./sentence-boundaries.js";

/** Options of {@link SentenceAggregator}. */
export interface SentenceAggregatorOptions {
  /**
   * The longest piece returned, in UTF-16 code units (JavaScript string length). A text that
   * reaches it with no sentence end is cut at the last clause mark or word start (see
   * docs/design/tts-text.md), so a run-on answer still reaches the TTS, and the aggregator never
   * holds more than this between calls. An integer from 16 to 4,096 (a push may rescan up to this
   * much, so a huge bound made pushing one character at a time quadratic: 80,000 emoji in 30 s with
   * 100,000). @default 250
   */
  maxChars?: number;
}

/** Default of {@link SentenceAggregatorOptions.maxChars}: about 15 s of speech, a long English sentence. */
export const DEFAULT_MAX_SENTENCE_CHARS = 250;

/**
 * Turns streamed LLM text into whole sentences for a TTS service, each as soon as it is known
 * to be complete (usually when the first character of the next sentence arrives).
 *
 * Guarantees, for any text and any way of splitting it into pushed pieces:
 * - the pieces returned by `push()` and `flush()`, joined, are exactly the text pushed since the
 *   last `flush()`/`reset()`: no character lost, duplicated or reordered;
 * - the pieces are the same however the text was split;
 * - no piece is longer than `maxChars`, and none is empty.
 * Each sentence keeps the whitespace that follows it ("Hello. "), which streaming providers
 * expect between transcripts. What ends a sentence is listed in docs/design/tts-text.md.
 *
 * It holds the text of one stream: one aggregator per TTS stream.
 *
 * @example
 * const sentences = new SentenceAggregator();
 * sentences.push("Hello there. How");    // → ["Hello there. "]
 * sentences.push(" are you?");           // → []  (the next character decides)
 * sentences.flush();                     // → "How are you?"
 */
export class SentenceAggregator {
  /** The longest piece returned, in UTF-16 code units. */
  readonly maxChars: number;
  #buffer = "";
  /** Whether the buffer starts at the start of a line (for "1. item" list numbers). */
  #startsLine = true;
  /** Where the last scan of the held sentence stopped, so a push scans only what it added. */
  #progress: ScanProgress = { at: 0, hasContent: false };

  constructor(options: SentenceAggregatorOptions = {}) {
    const maxChars = options.maxChars ?? DEFAULT_MAX_SENTENCE_CHARS;
    if (!Number.isInteger(maxChars) || maxChars < 16 || maxChars > 4096) {
      throw new InvalidOptionError(
        `SentenceAggregator: maxChars must be an integer from 16 to 4096 (got ${String(options.maxChars)}); ` +
          `it bounds each piece sent to the TTS, in characters`,
      );
    }
    this.maxChars = maxChars;
  }

  /** Characters held, waiting for the rest of their sentence (never more than `maxChars`). */
  get pendingChars(): number {
    return this.#buffer.length;
  }

  /** Adds streamed text; returns the sentences it completed, in order (often none). */
  push(text: string): string[] {
    if (text === "") return [];
    this.#buffer += text;
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const remaining = this.#buffer.length - start;
      if (remaining === 0) break;
      const window = {
        start,
        limit: Math.min(this.#buffer.length, start + this.maxChars + 1),
        startsLine: this.#startsLine,
      };
      let end = findSentenceEnd(this.#buffer, window, this.#progress);
      if (end === undefined) {
        if (remaining <= this.maxChars) break;
        end = chooseCut(this.#buffer, start, this.maxChars);
      }
      const piece = this.#buffer.slice(start, end);
      out.push(piece);
      this.#startsLine = endsLine(piece, this.#startsLine);
      this.#progress = { at: end, hasContent: false };
      start = end;
    }
    if (start > 0) {
      this.#buffer = this.#buffer.slice(start);
      this.#progress.at -= start;
    }
    return out;
  }

  /** Ends the text (the LLM response is complete): returns what is held, possibly "". */
  flush(): string {
    const rest = this.#buffer;
    this.reset();
    return rest;
  }

  /** Drops what is held (an interruption): the next push starts a new text. */
  reset(): void {
    this.#buffer = "";
    this.#startsLine = true;
    this.#progress = { at: 0, hasContent: false };
  }
}

/** Whether text following `piece` starts a line: the last newline comes after the last visible character. */
function endsLine(piece: string, before: boolean): boolean {
  for (let i = piece.length - 1; i >= 0; i--) {
    const ch = piece[i]!;
    if (ch === "\n") return true;
    if (!/\s/u.test(ch)) return false;
  }
  return before;
}
