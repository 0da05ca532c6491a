import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  MetricsFrame,
  TTSAudioRawFrame,
  TTSTextFrame,
} from "../../../src/index.js";
import { runTest } from "../../../src/testing/index.js";
import { CommandTTSService } from "../../../src/services/tts/command-tts-service.js";
import { espeakNgCommand } from "../../../src/services/tts/tts-commands.js";
import { processHandles } from "./support.js";
import { ToneTTS } from "./tone-tts.js";

const baseline = processHandles();
afterEach(() => {
  expect(processHandles()).toEqual(baseline);
});

/** Speaks `tokens` as one LLM response with real espeak-ng; returns what was sent to it and heard. */
async function speak(tokens: readonly string[]) {
  const base = espeakNgCommand();
  const sent: string[] = [];
  const tts = new CommandTTSService({
    command: {
      ...base,
      stdin: (text) => {
        if (text !== "ok") sent.push(text); // "ok" is the start-up check
        return base.stdin(text);
      },
    },
  });
  const { down, up } = await runTest(tts, {
    framesToSend: [
      new LLMFullResponseStartFrame(),
      ...tokens.map((t) => new LLMTextFrame(t)),
      new LLMFullResponseEndFrame(),
    ],
  });
  expect(up).toEqual([]);
  const audio = down.filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame);
  let samples = 0;
  let checksum = 0;
  for (const f of audio) {
    for (const s of f.audio) checksum = (checksum * 31 + s) | 0;
    samples += f.audio.length;
  }
  const texts = down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame).map((f) => f.text);
  return { sent, texts, samples, checksum };
}

/** Speaks `tokens` with {@link ToneTTS}; returns the pieces it was given and the frames, as text. */
async function speakTones(tokens: readonly string[]) {
  const tts = new ToneTTS();
  const { down } = await runTest(tts, {
    framesToSend: [
      new LLMFullResponseStartFrame(),
      ...tokens.map((t) => new LLMTextFrame(t)),
      new LLMFullResponseEndFrame(),
    ],
  });
  const frames = down
    .filter((f) => !(f instanceof MetricsFrame))
    .map((f) =>
      f instanceof TTSTextFrame
        ? `text:${f.text}`
        : f instanceof TTSAudioRawFrame
          ? `audio:${f.audio.length}`
          : f.constructor.name,
    );
  return {
    sent: tts.sent,
    texts: down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame).map((f) => f.text),
    frames,
  };
}

/** Cuts `text` at the given (sorted, de-duplicated) positions. */
function split(text: string, cuts: readonly number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out;
}

describe("token splits (property)", () => {
  it("a base-class engine: the same pieces are sent, in the same frames, for any text and any split", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          unit: fc.constantFrom("a", "B", " ", ".", "!", "\n", "*", "`", "。", "3", "Dr"),
          maxLength: 80,
        }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (answer, cuts) => {
          const reference = await speakTones([answer]);
          const result = await speakTones(split(answer, cuts));
          expect(result).toEqual(reference);
          expect(reference.texts.join("")).toBe(answer);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it("the same sentences are synthesised, and the same audio heard, however the answer is split into tokens", async () => {
    const sentence = fc.constantFrom(
      "Hello there. ",
      "It is **sunny** today! ",
      "Dr. Smith said so. ",
      "Is it 3.5 degrees? ",
      "你好。",
      "- a list item\n",
      "Done",
    );
    const answers = fc.array(sentence, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(""));
    const whole = new Map<string, Awaited<ReturnType<typeof speak>>>();
    await fc.assert(
      fc.asyncProperty(answers, fc.array(fc.nat(), { maxLength: 12 }), async (answer, cuts) => {
        let reference = whole.get(answer);
        if (!reference) {
          reference = await speak([answer]);
          whole.set(answer, reference);
        }
        const result = await speak(split(answer, cuts));
        expect(result.sent).toEqual(reference.sent);
        expect(result.texts).toEqual(reference.texts);
        expect(result.texts.join("")).toBe(answer);
        expect(result.samples).toBe(reference.samples);
        expect(result.checksum).toBe(reference.checksum);
      }),
      { numRuns: 6 },
    );
  }, 120_000);
});
