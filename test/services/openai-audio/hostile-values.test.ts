/**
 * OpenAI's audio endpoints answering with hostile bodies (test/support/hostile-json.ts): every
 * field of a transcription and of an error body replaced by each hostile value, from a loopback
 * server. The services never throw, say each problem once in words, and work again after.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock } from "../../../src/clock/index.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame } from "../../../src/frames/speaking.js";
import { TranscriptionFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { OpenAISTTService } from "../../../src/services/openai-audio/stt.js";
import { OpenAITTSService } from "../../../src/services/openai-audio/tts.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { speechChunk } from "../deepgram/stt-session.js";
import { startRecordedTask } from "../recorded-task.js";
import { until } from "../websocket/loopback-provider.js";
import { type FakeAnswer, fakeOpenAIAudio } from "./fake-openai-audio.js";
import { startTTS } from "./tts-session.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TRANSCRIPTION = {
  text: "book a table",
  usage: { type: "tokens", input_tokens: 42, output_tokens: 7, total_tokens: 49 },
};
const ERROR = {
  error: { message: "The server had an error", type: "server_error", param: null, code: null },
};

/** The answers: each variant of a transcription (200), then each variant of an error body (500). */
function hostileAnswers(withTranscriptions: boolean): FakeAnswer[] {
  return [
    ...(withTranscriptions ? hostileVariants(TRANSCRIPTION).map((v) => ({ body: v.text })) : []),
    ...hostileVariants(ERROR).map((v) => ({ body: v.text, status: 500 })),
  ];
}

const garbled = /Cannot convert|call stack|is not (a function|iterable)|\[object Object\]|Cannot read prop/;

describe("OpenAI audio services read hostile answers without throwing", () => {
  it("OpenAISTTService: every field of a transcription and of an error body, replaced by each hostile value", async () => {
    const answers = hostileAnswers(true);
    const total = answers.length;
    const server = await fakeOpenAIAudio({ transcription: () => answers.shift() ?? "ok" });
    cleanups.push(() => server.close());
    const stt = new OpenAISTTService({ apiKey: "test-key", env: {}, baseURL: server.baseURL });
    const s = await startRecordedTask([stt], new SystemClock());
    const utter = (): void => {
      s.queue(new VADUserStartedSpeakingFrame(), speechChunk(40, 16_000), new VADUserStoppedSpeakingFrame());
    };
    while (answers.length > 0) {
      const left = answers.length;
      utter();
      await until(() => answers.length < left, "the next answer taken");
    }
    utter();
    await until(
      () => s.down.ofType(TranscriptionFrame).some((f) => f.text === "book a table for two"),
      "the transcript after them",
    );
    expect(total).toBeGreaterThan(80);
    const said = s.up.ofType(ErrorFrame).map((e) => e.error.message);
    expect(said.filter((m) => garbled.test(m))).toEqual([]);
    expect(s.lines.filter((l) => garbled.test(l.message)).map((l) => l.message)).toEqual([]);
    expect(said.length).toBeLessThanOrEqual(8);
    expect(s.down.ofType(TranscriptionFrame).filter((f) => typeof f.text !== "string")).toEqual([]);
    void s.task.stopWhenDone();
    expect((await s.finished).how).toBe("ended");
  });

  it("OpenAITTSService: every field of an error body, replaced by each hostile value", async () => {
    const answers = hostileAnswers(false);
    const server = await fakeOpenAIAudio({ speech: () => answers.shift() ?? "ok" });
    cleanups.push(() => server.close());
    const tts = new OpenAITTSService({ apiKey: "test-key", env: {}, baseURL: server.baseURL });
    const s = await startTTS(tts, new SystemClock());
    let spoken = 0;
    while (answers.length > 0) {
      s.answer("Hi.");
      spoken++;
      await until(() => s.down.ofType(TTSStoppedFrame).length === spoken, "the sentence over", 5_000);
    }
    s.answer("Hi.");
    await until(() => s.down.ofType(TTSStoppedFrame).length === spoken + 1, "the sentence after them");
    expect(s.samples().length).toBeGreaterThanOrEqual(3 * 240);
    const said = s.errors().map((e) => e.error.message);
    expect(said.filter((m) => garbled.test(m))).toEqual([]);
    expect(said.length).toBeLessThanOrEqual(8);
    void s.task.stopWhenDone();
    expect((await s.finished).how).toBe("ended");
  });
});
