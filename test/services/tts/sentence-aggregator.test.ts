import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../../src/errors.js";
import { SentenceAggregator } from "../../../src/services/tts/sentence-aggregator.js";

/** Pushes `text` one character at a time (the worst split) and returns every piece, flush included. */
function sentencesOf(text: string, maxChars?: number): string[] {
  const aggregator = new SentenceAggregator({ maxChars });
  const pieces: string[] = [];
  for (const ch of text) pieces.push(...aggregator.push(ch));
  pieces.push(aggregator.flush());
  return pieces;
}

describe("SentenceAggregator", () => {
  it("returns a sentence as soon as the first character of the next one arrives", () => {
    const aggregator = new SentenceAggregator();
    expect(aggregator.push("Hello there.")).toEqual([]);
    expect(aggregator.push(" ")).toEqual([]);
    expect(aggregator.push("How")).toEqual(["Hello there. "]);
    expect(aggregator.push(" are you?")).toEqual([]);
    expect(aggregator.flush()).toBe("How are you?");
  });

  it.each([
    ["ends on . ! ? followed by a space", "One. Two! Three? Four", ["One. ", "Two! ", "Three? ", "Four"]],
    [
      "keeps titles with their names",
      "Dr. Smith and Mrs. Jones met. Then",
      ["Dr. Smith and Mrs. Jones met. ", "Then"],
    ],
    ["keeps e.g. and i.e. (lower case follows)", "Fruit, e.g. apples. Ok", ["Fruit, e.g. apples. ", "Ok"]],
    [
      "keeps initials and U.S.",
      "J. K. Rowling lives in the U.S. Army base. Yes",
      ["J. K. Rowling lives in the U.S. Army base. ", "Yes"],
    ],
    [
      "keeps decimals and domains",
      "Pi is 3.14 at example.com today. Yes",
      ["Pi is 3.14 at example.com today. ", "Yes"],
    ],
    [
      "keeps numbers with their abbreviation",
      "See No. 5 and Fig. 3 on Jan. 12. Ok",
      ["See No. 5 and Fig. 3 on Jan. 12. ", "Ok"],
    ],
    ["ends after a number mid-line", "I counted to 3. Then stopped", ["I counted to 3. ", "Then stopped"]],
    [
      "keeps a list number with its item",
      "Steps:\n1. Mix it.\n2. Bake it.",
      ["Steps:\n", "1. Mix it.\n", "2. Bake it."],
    ],
    [
      "keeps an indented list number with its item",
      "Steps:\n  10. Mix it. Now",
      ["Steps:\n  ", "10. Mix it. ", "Now"],
    ],
    ["treats an ellipsis before a capital as an end", "Well... Then what", ["Well... ", "Then what"]],
    ["keeps an ellipsis before lower case", "Wait... what now", ["Wait... what now"]],
    [
      "keeps closing quotes and brackets",
      'He said "Stop." (See this.) Next',
      ['He said "Stop." ', "(See this.) ", "Next"],
    ],
    ["keeps closing markdown marks", "**Done.** Next _one._ Last", ["**Done.** ", "Next _one._ ", "Last"]],
    ["ends a line at its newline", "Title\n\nBody text. More", ["Title\n\n", "Body text. ", "More"]],
    ["keeps leading whitespace with the first sentence", "\n\n  Hi. Yo", ["\n\n  Hi. ", "Yo"]],
    [
      "ends on CJK marks with no space",
      "你好。我很好！你呢？好的；再见",
      ["你好。", "我很好！", "你呢？", "好的；", "再见"],
    ],
    ["keeps a CJK closing quote", "他说：「好。」然后走了。", ["他说：「好。」", "然后走了。"]],
    ["ends on ASCII ! and ? inside CJK", "真的!好吗?是", ["真的!", "好吗?", "是"]],
    ["ends on Devanagari danda", "नमस्ते। आप कैसे हैं? ठीक", ["नमस्ते। ", "आप कैसे हैं? ", "ठीक"]],
    ["ends on the Arabic question mark", "كيف حالك؟ بخير", ["كيف حالك؟ ", "بخير"]],
    [
      "does not end on a URL's dots or a version",
      "Get v1.2.3 from https://x.io/a?b=1. Ok",
      ["Get v1.2.3 from https://x.io/a?b=1. ", "Ok"],
    ],
  ])("%s", (_title, text, expected) => {
    expect(sentencesOf(text).filter((s) => s !== "")).toEqual(expected);
  });

  it("cuts a text with no sentence end at the last clause mark or word, within maxChars", () => {
    const text = "This sentence has no end at all, and it keeps going on with more words and more words";
    const pieces = sentencesOf(text, 40);
    expect(pieces.join("")).toBe(text);
    expect(pieces.slice(0, 2)).toEqual([
      "This sentence has no end at all, ",
      "and it keeps going on with more words ",
    ]);
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(40);
  });

  it("cuts text with no spaces at a grapheme boundary, never inside an emoji or a surrogate pair", () => {
    const text = "👍🏽".repeat(30) + "字".repeat(40);
    const pieces = sentencesOf(text, 16);
    expect(pieces.join("")).toBe(text);
    for (const piece of pieces.slice(0, -1)) {
      expect(piece.length).toBeLessThanOrEqual(16);
      expect(
        [...new Intl.Segmenter().segment(piece)].every((g) => g.segment === "👍🏽" || g.segment === "字"),
      ).toBe(true);
    }
  });

  it("holds at most maxChars however long the text without an end", () => {
    const aggregator = new SentenceAggregator({ maxChars: 100 });
    let longest = 0;
    let held = 0;
    for (let i = 0; i < 10_000; i++) {
      for (const piece of aggregator.push("word ")) longest = Math.max(longest, piece.length);
      held = Math.max(held, aggregator.pendingChars);
    }
    expect(longest).toBeLessThanOrEqual(100);
    expect(held).toBeLessThanOrEqual(100);
  });

  it("drops what it holds on reset, and starts the next text at a line start", () => {
    const aggregator = new SentenceAggregator();
    aggregator.push("Half a sent");
    aggregator.reset();
    expect(aggregator.pendingChars).toBe(0);
    expect([...aggregator.push("1. First. Then "), aggregator.flush()]).toEqual(["1. First. ", "Then "]);
  });

  it("rejects a bound too small to hold a word, naming the option", () => {
    expect(() => new SentenceAggregator({ maxChars: 4 })).toThrow(InvalidOptionError);
    expect(() => new SentenceAggregator({ maxChars: 4 })).toThrow(
      /maxChars must be an integer from 16 to 4096 \(got 4\)/,
    );
    expect(() => new SentenceAggregator({ maxChars: 20.5 })).toThrow(/maxChars/);
    expect(() => new SentenceAggregator({ maxChars: 100_000 })).toThrow(/from 16 to 4096 \(got 100000\)/);
  });
});
