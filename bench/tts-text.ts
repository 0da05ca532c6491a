/**
 * TTS text steps benchmark (not a test): the main-thread cost of sentence aggregation plus the
 * markdown-to-speakable step per streamed LLM token, on a markdown-rich answer and on the worst
 * case for the aggregator (a run-on text with no sentence end, cut at the bound each time).
 *
 *   npx tsx bench/tts-text.ts
 *
 * Tokens are 4 characters, about an English LLM token. Best of 5 runs of 200 answers each.
 * The last line is the slowest of a few inputs built to make regular expressions backtrack (one
 * 80,000-character piece each, as a long `TTSSpeakFrame` could be); it stays linear.
 */
import { performance } from "node:perf_hooks";
import { markdownToSpeakable } from "../src/services/tts/markdown-to-speakable.js";
import { SentenceAggregator } from "../src/services/tts/sentence-aggregator.js";

const ANSWER = [
  "# Pancakes for **four**",
  "",
  "Sure! Here's a simple recipe, e.g. for a weekend breakfast. You need about 250 g of flour, 2 eggs and",
  "500 ml of milk; Dr. Oetker's baking powder works fine (see [the guide](https://example.com/p_a_n)).",
  "",
  "1. Mix the *dry* ingredients.",
  "2. Whisk in the eggs and milk until smooth… then rest it for 10 min.",
  "3. Fry each pancake for 2-3 minutes per side.",
  "",
  "| Step | Time |",
  "|------|------|",
  "| Rest | 10 min |",
  "",
  "```python",
  "print('enjoy. really!')",
  "```",
  "",
  "Enjoy your pancakes! 你好。这很好吃！",
].join("\n");

const RUN_ON = "and then the words keep coming without any end in sight ".repeat(40);

function perToken(text: string, answers: number): number {
  const tokens: string[] = [];
  for (let i = 0; i < text.length; i += 4) tokens.push(text.slice(i, i + 4));
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    let spoken = 0;
    for (let a = 0; a < answers; a++) {
      const sentences = new SentenceAggregator();
      const toSpeakable = markdownToSpeakable();
      for (const token of tokens) for (const s of sentences.push(token)) spoken += toSpeakable(s).length;
      spoken += toSpeakable(sentences.flush()).length;
    }
    const elapsed = performance.now() - t0;
    if (spoken === 0) throw new Error("nothing spoken");
    best = Math.min(best, elapsed);
  }
  return (best * 1000) / (answers * tokens.length);
}

console.log(`bench: tts-text-per-token-markdown-answer ${perToken(ANSWER, 200).toFixed(2)} µs`);
console.log(`bench: tts-text-per-token-run-on ${perToken(RUN_ON, 50).toFixed(2)} µs`);

const ADVERSARIAL: Record<string, string> = {
  footnotes: "[^".repeat(40_000),
  brackets: "[".repeat(80_000),
  tails: "](".repeat(40_000),
  images: "![a](".repeat(16_000),
  links: "[a](b".repeat(16_000),
  ticks: "`a".repeat(40_000),
  stars: "*a".repeat(40_000),
  escapes: "\\".repeat(80_000),
  table: "|" + "-".repeat(80_000) + "x",
  cells: "| a ".repeat(20_000),
};
let worst = 0;
let worstName = "";
for (const [name, text] of Object.entries(ADVERSARIAL)) {
  markdownToSpeakable()(text.slice(0, 2_000)); // warm up
  const t0 = performance.now();
  markdownToSpeakable()(text);
  const ms = performance.now() - t0;
  if (ms > worst) [worst, worstName] = [ms, name];
}
console.log(`bench: tts-text-markdown-adversarial-80k ${worst.toFixed(1)} ms (${worstName})`);
