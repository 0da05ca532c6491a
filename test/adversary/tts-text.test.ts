/**
 * Adversarial probes of the TTS text steps (docs/design/tts-text.md) through the root exports:
 * `SentenceAggregator` (no character lost, duplicated or cut apart; nothing held past `maxChars`)
 * and `markdownToSpeakable` ("Linear time. Every pattern is written so that no input makes it
 * backtrack"). Holes are `it.fails`; `held:` tests are attacks that broke nothing.
 *
 * Speed is measured as a growth ratio, not a time: the same flood at k× the length may cost at
 * most 2.5·k× the time (linear gives about k×, quadratic k²×), plus 20 ms of slack for timer and
 * GC noise, in CPU time (a shared machine's waits do not count). Holes are probed at k = 8, so they
 * fail by a wide margin.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SentenceAggregator, markdownToSpeakable } from "../../src/index.js";

/** CPU time this process has used, in ms (user + system). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Best of up to 3 runs of `work`, in ms of this process's CPU time (one is enough once a run takes
 * 300 ms). CPU time, not wall time: a test file sharing the machine loses its core now and then,
 * and the time it waits for it back is not the work's.
 */
function bestOf3(work: () => void): number {
  let best = Number.NaN; // !(NaN >= 300): the first run always happens
  for (let i = 0; i < 3 && !(best >= 300); i++) {
    const t0 = cpuMs();
    work();
    const ms = cpuMs() - t0;
    best = Number.isNaN(best) ? ms : Math.min(best, ms);
  }
  return best;
}

/** Times `run` on `make(n)` and `make(k·n)`; linear when the larger costs at most 2.5·k times as much (+20 ms). */
function growth(make: (n: number) => string, n: number, run: (text: string) => void, k = 4) {
  const small = make(n);
  const large = make(k * n);
  run(small); // warm up the JIT and the regular expressions
  const smallMs = bestOf3(() => run(small));
  const largeMs = bestOf3(() => run(large));
  return { smallMs, largeMs, linear: largeMs <= 2.5 * k * smallMs + 20 };
}

const speak = (text: string): void => void markdownToSpeakable()(text);

describe("adversary: markdownToSpeakable on adversarial input", () => {
  // Was a HOLE: a flood of "![" (an image opener with no "]" after it) was quadratic: each "!["
  // scanned to the end of the line for its "]". Measured before the fix (best of 3): 20,000
  // characters 97 ms, 40,000 389 ms, 80,000 2,571 ms (ratio 26 for 4×). Root cause: the image
  // pattern's alt text `[^\]\n]*` ran over later "[" (the link and footnote patterns stop there);
  // fixed in inline-markdown.ts by stopping it at "[" too.
  it('is linear on a flood of "![" (an image opener that never closes)', () => {
    const g = growth((n) => "![".repeat(n / 2), 10_000, speak, 8);
    expect(g, JSON.stringify(g)).toMatchObject({ linear: true });
  });

  // HOLE: nested constructs cost one whole pass per level, so depth d over n characters is
  // O(n·d) = O(n²). Each line is stripped "until stable" (docs/design/tts-text.md), and each pass
  // removes one level: "[[[a][]][]][]" → "[[a][]][]" → "[a][]" → "a". Measured (one run): depth
  // 1,000 23 ms, 4,000 158 ms, 16,000 2,331 ms. Root cause: markdown-to-speakable.ts repeats
  // stripInlineMarkdown until nothing changes, with no bound on the number of passes; the
  // reference-link pattern matches only the innermost "[text][]".
  it("is linear on nested reference links [[[a][]][]][]", () => {
    const g = growth((n) => `${"[".repeat(n / 4)}a${"][]".repeat(n / 4)}`, 8_000, speak, 8);
    expect(g, JSON.stringify(g)).toMatchObject({ linear: true });
  });

  // HOLE: the same root cause with autolinks: "<<<http://x>>>" loses one "<…>" per pass.
  // Measured (one run): depth 1,000 6 ms, 4,000 97 ms, 16,000 1,054 ms.
  it("is linear on nested autolinks <<<http://x>>>", () => {
    const g = growth((n) => `${"<".repeat(n / 2)}http://x${">".repeat(n / 2)}`, 4_000, speak, 8);
    expect(g, JSON.stringify(g)).toMatchObject({ linear: true });
  });

  // held: floods of each mark the inline patterns look at, alone and after an opener.
  it.each([
    ["[", "["],
    ["*a", "*a"],
    ["\\*", "\\*"],
    ["~~a", "~~a"],
    ["| a ", "| a "],
    ["`a", "`a"],
    ["[a](", "[a]("],
    ["_a", "_a"],
    ["[^", "[^"],
    ["**> ", "**> "],
    ["> - ", "> - "],
  ])("held: is linear on a flood of %j", (_name, unit) => {
    const g = growth((n) => unit.repeat(Math.ceil(n / unit.length)), 16_000, speak);
    expect(g, JSON.stringify(g)).toMatchObject({ linear: true });
  });

  it("held: never longer than its input and never throws, on text made of markdown marks, emoji, RTL and lone surrogates", () => {
    const unit = fc.constantFrom(
      ..."![]()<>`*_~\\|#>-+=:. \n\t".split(""),
      "http://",
      "```",
      "👨‍👩‍👧",
      "\u0301",
      "مرحبا",
      "你好。",
      "\ud800",
      "\udc00",
      "<br>",
      "[^1]",
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.array(unit, { maxLength: 40 }).map((u) => u.join("")),
          { maxLength: 8 },
        ),
        (pieces) => {
          const toSpeakable = markdownToSpeakable();
          for (const piece of pieces) expect(toSpeakable(piece).length).toBeLessThanOrEqual(piece.length);
        },
      ),
      { numRuns: 400 },
    );
  });
});

/** Characters that make a split hurt: surrogate halves, ZWJ sequences, combining marks, flags, RTL, CJK, every terminal. */
const HOSTILE = [
  "a",
  "Z",
  " ",
  "\n",
  "\r",
  "\u00a0",
  "\u2028",
  ".",
  "!",
  "?",
  "…",
  "。",
  "！",
  "।",
  "؟",
  ",",
  "、",
  '"',
  ")",
  "」",
  "*",
  "👍🏽",
  "👨‍👩‍👧",
  "🇫🇷",
  "e\u0301",
  "\u0301",
  "\u200d",
  "\u200f",
  "مرحبا",
  "שלום",
  "你好",
  "𝑎",
];

/** Every piece `push`ed chunk by chunk plus the `flush`, and the most held between calls. */
function aggregate(chunks: readonly string[], maxChars: number): { pieces: string[]; maxHeld: number } {
  const a = new SentenceAggregator({ maxChars });
  const pieces: string[] = [];
  let maxHeld = 0;
  for (const chunk of chunks) {
    pieces.push(...a.push(chunk));
    maxHeld = Math.max(maxHeld, a.pendingChars);
  }
  const last = a.flush();
  if (last !== "") pieces.push(last);
  return { pieces, maxHeld };
}

/** Splits `text` at the given cut points (UTF-16 indices, so surrogate pairs may be split too). */
function splitAt(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((x, y) => x - y);
  const out: string[] = [];
  let from = 0;
  for (const p of points) {
    out.push(text.slice(from, p));
    from = p;
  }
  out.push(text.slice(from));
  return out;
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

describe("adversary: SentenceAggregator on hostile text", () => {
  it("held: no character lost, duplicated or reordered; the same pieces for any split; none empty or over maxChars; nothing held past maxChars", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...HOSTILE), { maxLength: 120 }).map((u) => u.join("")),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 16, max: 40 }),
        (text, cuts, maxChars) => {
          const whole = aggregate([text], maxChars);
          const split = aggregate(splitAt(text, cuts), maxChars);
          expect(whole.pieces.join("")).toBe(text);
          expect(split.pieces).toEqual(whole.pieces);
          for (const p of whole.pieces) {
            expect(p.length).toBeGreaterThan(0);
            expect(p.length).toBeLessThanOrEqual(maxChars);
          }
          expect(split.maxHeld).toBeLessThanOrEqual(maxChars);
        },
      ),
      { numRuns: 1_500 },
    );
  });

  it("held: a cut never splits a surrogate pair, even in a run of emoji longer than maxChars", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("👍🏽", "👨‍👩‍👧", "🇫🇷", "𝑎", "e\u0301\u0302"), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 16, max: 30 }),
        (units, maxChars) => {
          const { pieces } = aggregate([...units.join("")], maxChars); // one UTF-16 unit per push
          for (let i = 0; i + 1 < pieces.length; i++) {
            const end = pieces[i]!.charCodeAt(pieces[i]!.length - 1);
            const start = pieces[i + 1]!.charCodeAt(0);
            expect(
              isHigh(end) && isLow(start),
              `${JSON.stringify(pieces[i])} | ${JSON.stringify(pieces[i + 1])}`,
            ).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // held, with the default maxChars: one character per push stays linear on floods of every kind
  // of mark (a mark run waiting for its next character is rescanned, at most maxChars per push).
  it.each(["。", ".", "a. ", "Dr. ", "👨‍👩‍👧", "e\u0301", "مرحبا ", "\n", ", ", " "])(
    "held: pushing a flood of %j one UTF-16 unit at a time is linear (default maxChars)",
    (unit) => {
      const pushAll = (text: string): void => {
        const a = new SentenceAggregator();
        for (let i = 0; i < text.length; i++) a.push(text[i]!);
        a.flush();
      };
      const g = growth((n) => unit.repeat(Math.ceil(n / unit.length)), 10_000, pushAll);
      expect(g, JSON.stringify(g)).toMatchObject({ linear: true });
    },
  );
});
