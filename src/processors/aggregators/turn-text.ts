/**
 * Scripts written without spaces between words: a space inserted between two of their pieces
 * would be read (and spoken) as a pause that was never there. Korean (Hangul) uses spaces, so it
 * is not among them.
 */
const NO_SPACE_SCRIPT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\u3000-\u303f\uff00-\uffef]/u;
/** A piece starting with one of these attaches to the word before it ("Paris" + "," → "Paris,"). */
const ATTACHES_LEFT = /^[,.;:!?%)\]}»”’…]/u;
/** A piece ending with one of these attaches to the word after it ("(" + "yes" → "(yes"). */
const ATTACHES_RIGHT = /[([{«“‘]$/u;
const SPACE = /\s/u;

/**
 * Whether a space goes between `before` and `next` when they are separate words (word-timed TTS
 * text, or two final transcripts): not when either side already has one, not between characters of
 * a script written without spaces (CJK, Thai…), not before closing or after opening punctuation.
 */
export function needsSpace(before: string, next: string): boolean {
  if (before === "" || next === "") return false;
  const last = Array.from(before.slice(-2)).at(-1)!;
  const first = String.fromCodePoint(next.codePointAt(0)!);
  if (SPACE.test(last) || SPACE.test(first)) return false;
  if (NO_SPACE_SCRIPT.test(last) || NO_SPACE_SCRIPT.test(first)) return false;
  return !ATTACHES_LEFT.test(first) && !ATTACHES_RIGHT.test(before);
}

/** How a piece joins the text before it. */
export type JoinMode =
  /** A separate word or transcript: a space is put in when {@link needsSpace} says so. */
  | "word"
  /** A piece of a stream that carries its own spacing (LLM tokens): appended as it is. */
  | "verbatim";

/**
 * The text of one turn, built piece by piece and bounded: past `maxChars` characters the rest of
 * the turn is dropped (counted in {@link droppedChars}), so a stuck STT or a runaway answer cannot
 * make it grow for the length of a session. One string, no per-piece array. @internal
 */
export class TurnText {
  #text = "";
  #dropped = 0;

  constructor(readonly maxChars: number) {}

  /** Characters of this turn dropped by the bound so far. */
  get droppedChars(): number {
    return this.#dropped;
  }

  /** The text so far, as built (not trimmed). */
  get text(): string {
    return this.#text;
  }

  /** Whether the turn holds anything but whitespace. */
  get hasWords(): boolean {
    return this.#text.trim() !== "";
  }

  /**
   * Adds `piece`. Returns the characters dropped by the bound (0 when all fit); a piece that
   * crosses the bound is cut there (never inside a surrogate pair).
   */
  append(piece: string, mode: JoinMode): number {
    if (piece === "") return 0;
    const joined = mode === "word" && needsSpace(this.#text, piece) ? ` ${piece}` : piece;
    const room = this.maxChars - this.#text.length;
    if (joined.length <= room) {
      this.#text += joined;
      return 0;
    }
    let keep = Math.max(0, room);
    if (keep > 0 && isHighSurrogate(joined.charCodeAt(keep - 1))) keep--;
    this.#text += joined.slice(0, keep);
    const dropped = joined.length - keep;
    this.#dropped += dropped;
    return dropped;
  }

  /** Returns the text, trimmed, and starts a new turn. */
  take(): string {
    const text = this.#text.trim();
    this.#text = "";
    this.#dropped = 0;
    return text;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
