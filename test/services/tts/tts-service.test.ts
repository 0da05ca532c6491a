import { describe, expect, it } from "vitest";
import {
  InterruptionFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  TTSAudioRawFrame,
  TTSTextFrame,
} from "../../../src/index.js";
import { runTest, Sleep } from "../../../src/testing/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { describeFrames } from "./support.js";
import { ToneTTS } from "./tone-tts.js";

describe("TTSService (base)", () => {
  it("an engine with word timings: one TTSTextFrame per word, pts from the audio pushed before it", async () => {
    const tts = new ToneTTS({ withWords: true });
    const { down } = await runTest(tts, {
      framesToSend: [
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("Hi you. "),
        new LLMTextFrame("Bye now."),
        new LLMFullResponseEndFrame(),
      ],
    });
    const words = down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame);
    expect(words.map((w) => w.text)).toEqual(["Hi", "you.", "Bye", "now."]);
    const start = words[0]!.pts!;
    // 10 ms per character; the second sentence starts after the first's 8 characters (80 ms) and the
    // resampler's tail flushed at its end (3 ms at 16 → 24 kHz).
    expect(words.map((w) => w.pts! - start)).toEqual([0, 30, 83, 123]);
    expect(describeFrames(down)).toEqual([
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSTextFrame(Hi)",
      "TTSTextFrame(you.)",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Bye)",
      "TTSTextFrame(now.)",
      "TTSAudioRawFrame*",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
    // 16 kHz engine audio resampled to the task's 24 kHz: 160 ms of it.
    const audio = down.filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame);
    expect(audio.every((f) => f.sampleRate === 24_000)).toBe(true);
    // Two pieces, each flushed from the resampler: (80 ms + its 3 ms tail) × 2 at 24 kHz.
    expect(audio.reduce((n, f) => n + f.numFrames, 0)).toBe(2 * (80 * 24 + 72));
  });

  it("an interruption drops the held half sentence: it never reaches the next answer", async () => {
    const tts = new ToneTTS();
    const { down } = await runTest(tts, {
      framesToSend: [
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("First answer. Half a sen"),
        new Sleep(10),
        new InterruptionFrame(),
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("tence here. Second."),
        new LLMFullResponseEndFrame(),
      ],
    });
    expect(tts.sent).toEqual(["First answer. ", "tence here. ", "Second."]);
    const texts = down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame).map((f) => f.text);
    expect(texts).toEqual(["First answer. ", "tence here. ", "Second."]);
  });

  it("holds at most maxSentenceChars however long the answer, and pushes audio as it comes", async () => {
    const tts = new ToneTTS({ maxSentenceChars: 64, chunkMs: 20 });
    const tokens: LLMTextFrame[] = [];
    for (let i = 0; i < 2_000; i++) tokens.push(new LLMTextFrame("word, "));
    let maxHeld = 0;
    let maxFrameMs = 0;
    const { down } = await runTest(tts, {
      framesToSend: [new LLMFullResponseStartFrame(), ...tokens, new LLMFullResponseEndFrame()],
      taskOptions: {
        observers: [
          {
            onPushFrame: ({ frame }) => {
              maxHeld = Math.max(maxHeld, tts.pendingChars);
              if (frame instanceof TTSAudioRawFrame) maxFrameMs = Math.max(maxFrameMs, frame.durationMs);
            },
          },
        ],
      },
    });
    expect(maxHeld).toBeLessThanOrEqual(64);
    expect(maxFrameMs).toBeLessThanOrEqual(21); // one engine chunk (plus the resampler's slack), never a whole response
    const texts = down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame).map((f) => f.text);
    expect(texts.join("")).toBe("word, ".repeat(2_000));
  });

  it("refuses bad options with a message naming the option", () => {
    expect(() => new ToneTTS({ stallTimeoutMs: 0 })).toThrow(InvalidOptionError);
    expect(() => new ToneTTS({ stallTimeoutMs: -1 })).toThrow(
      /stallTimeoutMs must be a positive number of ms/,
    );
    expect(() => new ToneTTS({ sampleRate: 12.5 })).toThrow(/sampleRate must be an integer number of Hz/);
  });
});
