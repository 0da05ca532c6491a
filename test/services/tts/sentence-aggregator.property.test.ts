import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SentenceAggregator } from "../../../src/services/tts/sentence-aggregator.js";

/** Characters that exercise every rule: terminals of all kinds, closers, clause marks, case, digits, newlines, surrogates, combining marks. */
const UNITS = [
  "a",
  "b",
  "e",
  "g",
  "s",
  "D",
  "r",
  "M",
  "U",
  "S",
  "J",
  "1",
  "2",
  "0",
  " ",
  " ",
  " ",
  "\n",
  "\t",
  ".",
  ".",
  "!",
  "?",
  "…",
  ",",
  ";",
  ":",
  "—",
  '"',
  "'",
  ")",
  "(",
  "*",
  "_",
  "`",
  "”",
  "。",
  "！",
  "？",
  "；",
  "、",
  "，",
  "「",
  "」",
  "字",
  "।",
  "؟",
  "😀",
  "👍🏽",
  "e\u0301",
];

const texts = fc.oneof(
  fc.string({ unit: fc.constantFrom(...UNITS), maxLength: 400 }),
  fc
    .array(
      fc.constantFrom(
        "Dr. ",
        "e.g. ",
        "1. ",
        "\n",
        "3.14 ",
        "U.S. ",
        "Yes. ",
        "no? ",
        "你好。",
        "word ",
        "Word, ",
      ),
      { maxLength: 80 },
    )
    .map((words) => words.join("")),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 300 }), // lone surrogates too
);

/** Cut points of a text: sorted, distinct, inside it. */
function splitAt(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(text.slice(from, p));
    from = p;
  }
  pieces.push(text.slice(from));
  return pieces;
}

function run(pieces: string[], maxChars: number): { out: string[]; maxHeld: number } {
  const aggregator = new SentenceAggregator({ maxChars });
  const out: string[] = [];
  let maxHeld = 0;
  for (const piece of pieces) {
    out.push(...aggregator.push(piece));
    maxHeld = Math.max(maxHeld, aggregator.pendingChars);
  }
  const rest = aggregator.flush();
  if (rest !== "") out.push(rest);
  return { out, maxHeld };
}

const params = { numRuns: 400 };

describe("SentenceAggregator properties", () => {
  it("loses, duplicates and reorders nothing, for any text split any way", () => {
    fc.assert(
      fc.property(
        texts,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 16, max: 80 }),
        (text, cuts, maxChars) => {
          expect(run(splitAt(text, cuts), maxChars).out.join("")).toBe(text);
        },
      ),
      params,
    );
  });

  it("returns the same sentences however the text was split", () => {
    fc.assert(
      fc.property(
        texts,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 16, max: 80 }),
        (text, cuts, maxChars) => {
          const whole = run([text], maxChars).out;
          expect(run(splitAt(text, cuts), maxChars).out).toEqual(whole);
          expect(run([...text], maxChars).out).toEqual(whole); // one UTF-16 unit at a time
        },
      ),
      params,
    );
  });

  it("never returns an empty piece or one longer than maxChars, and never holds more than maxChars", () => {
    fc.assert(
      fc.property(
        texts,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 16, max: 80 }),
        (text, cuts, maxChars) => {
          const { out, maxHeld } = run(splitAt(text, cuts), maxChars);
          for (const piece of out) {
            expect(piece.length).toBeGreaterThan(0);
            expect(piece.length).toBeLessThanOrEqual(maxChars);
          }
          expect(maxHeld).toBeLessThanOrEqual(maxChars);
        },
      ),
      params,
    );
  });

  it("sends whitespace on with the sentence after it: a whitespace-only piece is a cut at the bound", () => {
    const spacey = fc.string({
      unit: fc.constantFrom(" ", "          ", "\n", "\n\n\n\n", "\t", "a", ".", "A", "。"),
      maxLength: 300,
    });
    fc.assert(
      fc.property(
        spacey,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 16, max: 40 }),
        (text, cuts, maxChars) => {
          const { out } = run(splitAt(text, cuts), maxChars);
          for (const piece of out.slice(0, -1)) if (piece.trim() === "") expect(piece.length).toBe(maxChars);
        },
      ),
      params,
    );
  });

  it("never cuts a well-formed surrogate pair in two", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("😀", "👍🏽", "字", " ", "."), maxLength: 300 }),
        fc.integer({ min: 16, max: 40 }),
        (text, maxChars) => {
          for (const piece of run([text], maxChars).out)
            expect(piece).not.toMatch(/[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/);
        },
      ),
      params,
    );
  });
});
