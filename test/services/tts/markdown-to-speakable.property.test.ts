import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { markdownToSpeakable } from "../../../src/services/tts/markdown-to-speakable.js";

/** Markdown-heavy text, without the characters whose removal can reveal new markup (\ ` [ ] < >). */
const MARKUP_UNITS = [
  "a",
  "b",
  "Z",
  "1",
  "2",
  " ",
  " ",
  "\n",
  "\t",
  "*",
  "**",
  "_",
  "__",
  "~",
  "~~",
  "~~~",
  "#",
  "# ",
  "-",
  "- ",
  "+ ",
  ">",
  "> ",
  "|",
  "| ",
  ".",
  ",",
  ":",
  "!",
  "(",
  ")",
  "=",
  "---\n",
  "1. ",
  "字",
  "😀",
];
const ALL_UNITS = [
  ...MARKUP_UNITS,
  "\\",
  "`",
  "```",
  "[",
  "]",
  "(u)",
  "![",
  "<",
  ">",
  "<br>",
  "http://x",
  "www.",
];

const markupText = fc.string({ unit: fc.constantFrom(...MARKUP_UNITS), maxLength: 200 });
const anyText = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ALL_UNITS), maxLength: 200 }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
);

const params = { numRuns: 500 };

describe("markdownToSpeakable properties", () => {
  it("never throws and never makes a piece longer, whatever the pieces and their order", () => {
    fc.assert(
      fc.property(fc.array(anyText, { maxLength: 12 }), (pieces) => {
        const toSpeakable = markdownToSpeakable();
        for (const piece of pieces) expect(toSpeakable(piece).length).toBeLessThanOrEqual(piece.length);
      }),
      params,
    );
  });

  it("is idempotent on text without escapes, code ticks, brackets or angle brackets", () => {
    fc.assert(
      fc.property(markupText, (text) => {
        const once = markdownToSpeakable()(text);
        expect(markdownToSpeakable()(once)).toBe(once);
      }),
      params,
    );
  });

  it("leaves text with no markdown characters unchanged", () => {
    const plain = fc.string({
      unit: fc.constantFrom(
        "a",
        "Z",
        "é",
        "1",
        " ",
        "\n",
        ".",
        ",",
        "?",
        "!",
        "'",
        '"',
        "(",
        ")",
        "字",
        "。",
        "😀",
        "%",
        "$",
      ),
      maxLength: 200,
    });
    fc.assert(
      fc.property(plain, (text) => {
        expect(markdownToSpeakable()(text)).toBe(text);
      }),
      params,
    );
  });
});
