/**
 * Where a sentence ends in streamed LLM text, and where to cut a run-on text that has no end.
 * Pure functions over a string; the streaming state lives in `sentence-aggregator.ts`.
 * The rules and their reasons are in docs/design/tts-text.md.
 */

/** Marks that end a sentence only when whitespace follows (and the next word is not lower case). */
const LATIN_TERMINALS = new Set(".!?…‼⁇⁈⁉");

/**
 * Marks that end a sentence with no whitespace after them: CJK (。｡！？ and the full-width ；),
 * Devanagari danda and double danda, Arabic question mark, Urdu full stop, Armenian full stop,
 * Ethiopic full stop and question mark, Khmer khan, Myanmar section mark.
 */
const STRONG_TERMINALS = new Set("。｡！？；।॥؟۔։።፧។။");

/**
 * Characters that close what a terminal mark ended and belong to the same sentence: quotes,
 * brackets (Latin and CJK), and markdown emphasis or code marks (`**Done.** Next` cuts after `**`).
 */
const CLOSERS = new Set("\"'”’»›)]}」』）】〕〉》〗〙〛＂＇］｝*_`~");

/** Clause marks: preferred places to cut a sentence that grew past the bound. */
const CLAUSE_MARKS = new Set(",;:—–،؛、，；：﹐｡。");

/** Clause marks that need no whitespace after them (CJK). */
const CJK_CLAUSE_MARKS = new Set("、，；：﹐｡。");

/**
 * Abbreviations whose period never ends a sentence, compared lower-cased and without the period:
 * titles before a name ("Dr. Smith"), and short forms usually followed by a number or a name
 * ("No. 5", "Fig. 3", "Jan. 12", "vs. Madrid"). A false "no end" only merges two sentences, which
 * costs a little latency; a false end splits a name, which the listener hears.
 */
const ABBREVIATIONS = new Set(
  (
    "mr mrs ms mx dr prof sr jr st mt ft gen col lt sgt capt cmdr rev hon sen rep gov pres " +
    "messrs mme mlle vs cf approx appt dept est fig figs no nos vol vols pp ch sec ca viz al " +
    "tel ext jan feb mar apr jun jul aug sep sept oct nov dec"
  ).split(" "),
);

const WHITESPACE = /\s/u;
const LOWERCASE = /\p{Ll}/u;
const WORD_CHAR = /[\p{L}\p{N}.]/u;
const INITIALS = /^(?:\p{L}\.)*\p{L}$/u; // "U.S", "e.g", "a.m", "J" (the final period is not included)
const DIGITS = /^\p{Nd}+$/u;
const NO_SPACE_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;

const isSpace = (ch: string): boolean => WHITESPACE.test(ch);

/** Where the scan runs and what it may assume. */
export interface BoundaryWindow {
  /** Index where the current sentence starts. */
  readonly start: number;
  /** Scan no further than this index (exclusive); an end found past it counts as none. */
  readonly limit: number;
  /** Whether `start` is at the start of a line (text start or just after a newline). */
  readonly startsLine: boolean;
}

/**
 * How far a scan that found no end got, so the next scan of the same sentence (with more text)
 * resumes there instead of starting over: everything before `at` was decided for good.
 */
export interface ScanProgress {
  /** Index to resume at (≥ the window's start). */
  at: number;
  /** Whether the sentence holds a visible character before `at`. */
  hasContent: boolean;
}

/** Index just past the run of characters from `from` that `belongs` accepts, stopping at `limit`. */
function runEnd(text: string, from: number, limit: number, belongs: (ch: string) => boolean): number {
  let i = from;
  while (i < limit && belongs(text[i]!)) i++;
  return i;
}

/**
 * Finds the first sentence end in `text` after `window.start`, before `window.limit`. A sentence ends:
 * - after a strong terminal (CJK, danda…), its closers and whitespace, before the next character;
 * - after a Latin terminal (. ! ? …), its closers and at least one whitespace, before the next
 *   character, unless that character is lower case ("e.g. this") or the terminal is a single
 *   period after an abbreviation ("Dr."), initials ("U.S.", "J."), or a list number at a line
 *   start ("1. item");
 * - after `!` or `?` directly followed by Han or Kana text (LLMs mixing ASCII marks into Chinese);
 * - after a newline, once the sentence holds something other than whitespace.
 * The end is placed after the whitespace that follows, so every sentence carries its own trailing
 * space and the next one starts on a visible character. Every rule looks at most one character
 * past the end it places, and never before `window.start`, so the answer is the same however the
 * text arrived.
 *
 * @param progress where an earlier scan of this sentence stopped; updated when no end is found.
 * @returns the index the sentence ends before, or `undefined` when no end is decided before
 * `window.limit` (none there, or the character that decides it has not arrived).
 */
export function findSentenceEnd(
  text: string,
  window: BoundaryWindow,
  progress: ScanProgress = { at: window.start, hasContent: false },
): number | undefined {
  const { limit } = window;
  let { hasContent } = progress;
  let i = Math.max(progress.at, window.start);
  const stop = (at: number): undefined => {
    progress.at = at;
    progress.hasContent = hasContent;
    return undefined;
  };
  while (i < limit) {
    const ch = text[i]!;
    if (ch === "\n" && hasContent) {
      const next = runEnd(text, i, limit, isSpace);
      return next < limit ? next : stop(i);
    }
    if (LATIN_TERMINALS.has(ch) || STRONG_TERMINALS.has(ch)) {
      const marksEnd = runEnd(text, i, limit, (c) => LATIN_TERMINALS.has(c) || STRONG_TERMINALS.has(c));
      const closersEnd = runEnd(text, marksEnd, limit, (c) => CLOSERS.has(c));
      const next = runEnd(text, closersEnd, limit, isSpace);
      if (next >= limit) return stop(i);
      if (endsSentence(text, text.slice(i, marksEnd), i, closersEnd, next, window)) return next;
      hasContent = true;
      i = next;
      continue;
    }
    if (!isSpace(ch)) hasContent = true;
    i++;
  }
  return stop(i);
}

/** Whether the terminal `marks` at `markAt`, followed by closers and whitespace up to `next`, end a sentence. */
function endsSentence(
  text: string,
  marks: string,
  markAt: number,
  closersEnd: number,
  next: number,
  window: BoundaryWindow,
): boolean {
  if ([...marks].some((c) => STRONG_TERMINALS.has(c))) return true;
  const following = text[next]!;
  if (next === closersEnd) {
    // No whitespace: "3.14", "example.com", "Wait...what". Only ASCII !/? into CJK text ends.
    return /[!?]/.test(marks) && NO_SPACE_SCRIPT.test(following);
  }
  if (LOWERCASE.test(following)) return false;
  if (marks !== ".") return true;
  const wordStart = wordStartBefore(text, markAt, window.start);
  const word = text.slice(wordStart, markAt);
  if (word === "") return true;
  if (ABBREVIATIONS.has(word.toLowerCase())) return false;
  if (INITIALS.test(word)) return false;
  if (DIGITS.test(word) && isLineStart(text, wordStart, window)) return false;
  return true;
}

/** Start of the word (letters, digits, periods) that ends just before `end`, not before `floor`. */
function wordStartBefore(text: string, end: number, floor: number): number {
  let i = end;
  while (i > floor && WORD_CHAR.test(text[i - 1]!)) i--;
  return i;
}

/** Whether only spaces or tabs stand between the last line start and `at`. */
function isLineStart(text: string, at: number, window: BoundaryWindow): boolean {
  for (let i = at - 1; i >= window.start; i--) {
    const ch = text[i]!;
    if (ch === "\n") return true;
    if (ch !== " " && ch !== "\t") return false;
  }
  return window.startsLine;
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * Where to cut a text with no sentence end within `maxChars` of `start`: returns the cut index
 * `p`, with `start < p <= start + maxChars`. Needs `text` to hold at least `start + maxChars + 1`
 * characters (the character after the window tells whether a word starts there). In order of
 * preference: after the last clause mark (`,` `;` `:` dashes, CJK 、，) and its whitespace, when
 * that keeps at least half the window; before the last word that has something visible before
 * it; after the last clause mark anywhere; at the last grapheme boundary; at the last code point
 * boundary (never inside a surrogate pair). Only the last two can return a whitespace-only piece
 * (a whitespace run longer than the window).
 */
export function chooseCut(text: string, start: number, maxChars: number): number {
  const last = start + maxChars;
  let lastClause = -1;
  let lastWord = -1;
  let visible = false; // a cut must leave something to say before it, or whitespace would go alone
  for (let p = start + 1; p <= last; p++) {
    const before = text[p - 1]!;
    if (!isSpace(before)) visible = true;
    const here = text[p];
    if (here === undefined || isSpace(here)) continue;
    if (isSpace(before)) {
      if (visible) lastWord = p;
      let q = p - 1;
      while (q > start && isSpace(text[q - 1]!)) q--;
      if (q > start && CLAUSE_MARKS.has(text[q - 1]!) && q - 1 > start) lastClause = p;
    } else if (CJK_CLAUSE_MARKS.has(before) && !CLOSERS.has(here)) {
      lastClause = p;
    }
  }
  if (lastClause >= 0 && lastClause - start >= maxChars / 2) return lastClause;
  if (lastWord >= 0) return lastWord;
  if (lastClause >= 0) return lastClause;
  let graphemeCut = -1;
  for (const { index } of GRAPHEMES.segment(text.slice(start, last + 1))) {
    if (index > maxChars) break;
    if (index > 0) graphemeCut = start + index;
  }
  if (graphemeCut > start) return graphemeCut;
  const high = text.charCodeAt(last - 1);
  const low = text.charCodeAt(last);
  const splitsPair = high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
  return splitsPair ? last - 1 : last;
}
