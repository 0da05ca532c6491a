import { stripInlineMarkdown } from "./inline-markdown.js";
import type { TextToSpeakable, TextToSpeakableFactory } from "./text-to-speakable.js";

/** What a fenced code block looked like when it opened: it closes on the same mark, as long or longer. */
interface OpenFence {
  readonly mark: "`" | "~";
  readonly length: number;
}

const FENCE = /^[ \t]{0,3}(`{3,}|~{3,})/;
const THEMATIC_BREAK = /^[ \t]{0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})$/;
const TABLE_DELIMITER_ROW = /^[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+(?:[ \t]*:?-+:?[ \t]*)?$/;
/** Heading marks, quote marks and bullets at the start of a line, repeated ("> - item"). */
const LINE_PREFIX = /^[ \t]*(?:(?:#{1,6}|>|[-*+])(?:[ \t]+|$))+/;
const CLOSING_HASHES = /[ \t]+#+[ \t]*$/;
const TABLE_CELL_SEPARATOR = /([ \t]*\|[ \t]*)/;

/**
 * The default {@link TextToSpeakableFactory}: strips the markdown an LLM writes so the voice does
 * not read it out. Per response, it:
 * - drops fenced code blocks, fence lines included, even when the fence spans many sentences (an
 *   unclosed fence drops the rest of the response; a code block is not something to read aloud);
 * - removes heading marks, block quote marks, bullets (`-`, `*`, `+`) and thematic breaks at line
 *   starts; keeps list numbers ("1. Mix the flour" is said as such);
 * - turns a table row into its cells separated by commas and drops the delimiter row;
 * - removes inline marks (emphasis, strikethrough, code ticks, links → their text, images,
 *   footnote marks, escapes) and leaves `a*b`, `5 * 3`, `snake_case`, URLs and `x < y` alone.
 * Whitespace is kept (a sentence keeps its trailing space); the output is never longer than the
 * input. Works on pieces that end anywhere: it remembers whether a piece starts a line.
 */
export const markdownToSpeakable: TextToSpeakableFactory = (): TextToSpeakable => {
  let fence: OpenFence | undefined;
  let atLineStart = true;
  return (piece: string): string => {
    let out = "";
    for (const line of splitLines(piece)) {
      const body = line.endsWith("\n") ? line.slice(0, -1) : line;
      const newline = line.length > body.length ? "\n" : "";
      if (fence !== undefined) {
        if (atLineStart && closesFence(body, fence)) fence = undefined;
        // Code is dropped, newline and all: the text before it kept its own.
      } else if (atLineStart) {
        const opened = FENCE.exec(body);
        if (opened) {
          fence = { mark: opened[1]![0] as "`" | "~", length: opened[1]!.length };
        } else {
          out += untilStable(body, speakLine) + newline;
        }
      } else {
        out += untilStable(body, stripInlineMarkdown) + newline;
      }
      // Leading spaces alone (a piece cut inside an indent) leave the line start where it was.
      atLineStart = newline !== "" || (atLineStart && body.trim() === "");
    }
    return out;
  };
};

/** `text` cut after each newline (the newline stays with its line); "" gives no lines. */
function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === "" ? [] : lines;
}

function closesFence(body: string, fence: OpenFence): boolean {
  const match = FENCE.exec(body);
  if (!match) return false;
  const run = match[1]!;
  return run[0] === fence.mark && run.length >= fence.length && body.slice(match[0].length).trim() === "";
}

/** A whole line (or the start of one), without its newline. */
function speakLine(body: string): string {
  if (THEMATIC_BREAK.test(body)) return "";
  if (body.includes("|") && /^[ \t]*\|/.test(body)) {
    if (TABLE_DELIMITER_ROW.test(body)) return "";
    return tableCells(body);
  }
  let rest = body;
  const prefix = LINE_PREFIX.exec(rest);
  if (prefix) {
    rest = rest.slice(prefix[0].length);
    if (prefix[0].includes("#")) rest = rest.replace(CLOSING_HASHES, "");
  }
  return stripInlineMarkdown(rest);
}

/**
 * Rounds of stripping one line may take. Each round removes one level of nesting, so without a
 * bound a line nested d deep cost d passes over it: O(n²) on "[[[a][]][]][]" or "<<<http://x>>>"
 * thousands deep (2.3 s for 16,000 levels). Real markup needs two or three rounds; what is left
 * past eight is read as it is.
 */
const MAX_ROUNDS = 8;

/**
 * Applies `strip` until nothing changes (at most {@link MAX_ROUNDS} times), so the result holds no
 * markup that removing other marks uncovered ("**> x" → "> x" → "x"). Most lines take one round
 * that changes nothing.
 */
function untilStable(text: string, strip: (text: string) => string): string {
  let current = text;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = strip(current);
    if (next === current) return current;
    current = next;
  }
  return current;
}

/**
 * "| a | b |" → "a, b": each cell read as a line of its own, empty cells dropped. A separator
 * without spaces around it becomes a bare comma, so nothing grows.
 */
function tableCells(row: string): string {
  const inner = row.replace(/^[ \t]*\|[ \t]*/, "").replace(/[ \t]*\|[ \t]*$/, "");
  const parts = inner.split(TABLE_CELL_SEPARATOR); // cell, separator, cell, …
  let out = "";
  for (let i = 0; i < parts.length; i += 2) {
    const cell = speakLine(parts[i]!).trim();
    if (cell === "") continue;
    if (out !== "") out += parts[i - 1]!.length >= 2 ? ", " : ",";
    out += cell;
  }
  return out;
}
