import { describe, expect, it } from "vitest";
import { markdownToSpeakable } from "../../../src/services/tts/markdown-to-speakable.js";
import { SentenceAggregator } from "../../../src/services/tts/sentence-aggregator.js";

/** One fresh stripper over one piece. */
const speak = (text: string): string => markdownToSpeakable()(text);

/** The way a TTS service uses the two steps: streamed tokens → sentences → speakable text. */
function speakStreamed(text: string, tokenChars = 3): string[] {
  const sentences = new SentenceAggregator();
  const toSpeakable = markdownToSpeakable();
  const spoken: string[] = [];
  for (let i = 0; i < text.length; i += tokenChars) {
    for (const sentence of sentences.push(text.slice(i, i + tokenChars))) spoken.push(toSpeakable(sentence));
  }
  spoken.push(toSpeakable(sentences.flush()));
  return spoken.filter((s) => s.trim() !== "");
}

describe("markdownToSpeakable", () => {
  it.each([
    [
      "bold, italic and code",
      "**Bold** and *em* and __strong__ and `npm install`.",
      "Bold and em and strong and npm install.",
    ],
    ["strikethrough", "It costs ~~5~~ 4 euros.", "It costs 5 4 euros."],
    ["a link keeps its text", 'Read [the **docs**](https://x.y/a_b "Docs") now.', "Read the docs now."],
    ["an image goes", "Look ![a cat](cat.png) here.", "Look  here."],
    ["an autolink keeps its address", "Mail <mailto:a@b.c> or <https://x.y>.", "Mail a@b.c or https://x.y."],
    ["a reference link and a footnote", "See [this][1] too[^note].", "See this too."],
    ["escapes lose their backslash", "2 \\* 3 and a\\_b", "2 * 3 and a_b"],
    ["escaped marks too (a voice says neither)", "\\*not bold\\*", "not bold"],
    ["a heading", "## Steps to take ##\n", "Steps to take\n"],
    ["a bullet", "  - the first thing\n", "the first thing\n"],
    ["a star bullet with bold", "* **Salt**: a pinch\n", "Salt: a pinch\n"],
    ["a quoted bullet", "> - quoted\n", "quoted\n"],
    ["a thematic break", "---\n", "\n"],
    ["a list number stays", "1. Mix the flour.\n", "1. Mix the flour.\n"],
    ["a table row", "| Name | Age |\n", "Name, Age\n"],
    ["a table delimiter row", "|:-----|---:|\n", "\n"],
    ["a line break tag", "one<br>two<br/>three", "one two three"],
    [
      "bold around a URL (a URL's last * _ ~ ` counts as markdown)",
      "**https://x.io/a_b** now",
      "https://x.io/a_b now",
    ],
  ])("removes %s", (_what, text, expected) => {
    expect(speak(text)).toBe(expected);
  });

  it.each([
    ["multiplication without spaces", "a*b*c = 5 and 2**3 = 8"],
    ["multiplication with spaces", "5 * 3 = 15 and 2 ** 3"],
    ["snake_case names", "call snake_case_names or MAX_VALUE_2"],
    ["URLs with marks in them", "Go to https://x.io/a_b_c?q=1*2&r=_x_y or www.x.io/__init__.py now"],
    ["comparisons", "x < y > z and a<b>c"],
    ["a lone tilde", "about ~5 minutes ~ give or take"],
    ["a hyphen and a plus before a number", "-5 degrees, +3 points"],
    ["a hash before a word", "#hashtag and C# code"],
    ["plain text", "Nothing to see here, really. 3.14!"],
  ])("leaves %s alone", (_what, text) => {
    expect(speak(text)).toBe(text);
  });

  it("drops a fenced code block that spans many streamed sentences, and speaks what follows", () => {
    const answer =
      "Here is the code:\n```python\nprint('Hello. World!')\nx = 1. Then y.\n```\nRun it. It prints *Hello*.";
    expect(speakStreamed(answer)).toEqual(["Here is the code:\n", "Run it. ", "It prints Hello."]);
  });

  it("closes a fence only on the same mark, as long or longer, alone on its line", () => {
    const toSpeakable = markdownToSpeakable();
    const out = ["````md\n", "```\n", "~~~~\n", "still code\n", "````\n", "Spoken.\n"].map(toSpeakable);
    expect(out.join("")).toBe("Spoken.\n");
  });

  it("drops the rest of a response after an unclosed fence, and a new response starts clean", () => {
    const first = markdownToSpeakable();
    expect(["```\n", "code()\n", "More text.\n"].map(first).join("")).toBe("");
    expect(markdownToSpeakable()("Spoken again.")).toBe("Spoken again.");
  });

  it("removes emphasis marks of a span split across two sentences", () => {
    expect(speakStreamed("**This is bold. And so is this.** Plain.")).toEqual([
      "This is bold. ",
      "And so is this. ",
      "Plain.",
    ]);
  });

  it("removes a link's marks when its text holds a sentence end and is split in two", () => {
    expect(speakStreamed("See [the guide. It is short](https://x.io/g_(v2)) today.")).toEqual([
      "See the guide. ",
      "It is short today.",
    ]);
  });

  it("keeps brackets that close", () => {
    expect(speak("Cite [1] and [see below].")).toBe("Cite [1] and [see below].");
  });

  it("knows a piece that starts mid-line is not a heading or a bullet", () => {
    const toSpeakable = markdownToSpeakable();
    expect(toSpeakable("First part. ")).toBe("First part. ");
    expect(toSpeakable("- not a bullet here")).toBe("- not a bullet here");
    expect(toSpeakable("\n")).toBe("\n");
    expect(toSpeakable("- a bullet now")).toBe("a bullet now");
  });

  it("speaks a whole markdown answer as plain sentences", () => {
    const answer = [
      "# Pancakes",
      "",
      "You need **three** things:",
      "",
      "- flour",
      "- *two* eggs",
      "- milk (see [this guide](https://x.io/p))",
      "",
      "| Step | Time |",
      "|------|------|",
      "| Mix | 5 min |",
      "",
      "1. Mix it.",
      "2. Fry it.",
      "",
      "---",
      "Enjoy!",
    ].join("\n");
    expect(speakStreamed(answer).map((s) => s.trim())).toEqual([
      "Pancakes",
      "You need three things:",
      "flour",
      "two eggs",
      "milk (see this guide)",
      "Step, Time",
      "Mix, 5 min",
      "1. Mix it.",
      "2. Fry it.",
      "Enjoy!",
    ]);
  });
});
