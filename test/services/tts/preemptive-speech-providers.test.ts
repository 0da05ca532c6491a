/**
 * Preemptive speech on the providers not covered by the adversary's file (ElevenLabs' multi-context
 * socket and OpenAI speech over HTTP), against their loopback servers: a right guess is synthesised
 * once and spoken exactly as a fresh answer; a wrong one is stopped and its context closed, and the
 * answer is spoken exactly.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock, TTSStartedFrame, TTSStoppedFrame } from "../../../src/index.js";
import { ElevenLabsTTSService } from "../../../src/services/elevenlabs/tts.js";
import { OpenAITTSService } from "../../../src/services/openai-audio/tts.js";
import { elevenSample, fakeElevenLabs } from "../elevenlabs/fake-elevenlabs.js";
import { fakeOpenAIAudio, speechSample } from "../openai-audio/fake-openai-audio.js";
import { endTTS, startTTS, waitFor } from "../openai-audio/tts-session.js";
import { samplesOf, startStreamingSession } from "./streaming-session.js";
import { guess } from "./preemptive-frames.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("preemptive speech on ElevenLabs (loopback multi-stream-input)", () => {
  const eleven = (text: string) =>
    [...text.trimEnd()].flatMap((c) => new Array<number>(240).fill(elevenSample(c)));

  it("a right guess: the first sentence sent once, before the answer, and the audio exactly a fresh answer's", async () => {
    const server = await fakeElevenLabs();
    cleanups.push(() => server.close());
    const tts = new ElevenLabsTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts]);
    const texts = () => server.connections.flatMap((c) => c.received).map((m) => m["text"]);
    s.queue(...guess(1, "Hello there. ", "How"));
    await s.until(() => texts().includes("Hello there. "), "the guess sent");
    expect(s.down.ofType(TTSStartedFrame)).toHaveLength(0);
    s.respond("Hello there. ", "How are you?");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    await s.finish();
    expect(texts().filter((t) => t === "Hello there. ")).toHaveLength(1);
    expect(samplesOf(s.down.frames)).toEqual([...eleven("Hello there. "), ...eleven("How are you?")]);
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(tts.preemptiveSpeechDiscarded).toBe(0);
  });

  it("a wrong guess: its context closed, nothing of it heard, the answer exact", async () => {
    const server = await fakeElevenLabs();
    cleanups.push(() => server.close());
    const tts = new ElevenLabsTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts]);
    const received = () => server.connections.flatMap((c) => c.received);
    s.queue(...guess(1, "Wrong guess."));
    await s.until(
      () => received().some((m) => m["text"] === "Wrong guess. " || m["text"] === "Wrong guess."),
      "sent",
    );
    const wrong = received().find((m) => String(m["text"]).startsWith("Wrong"))!["context_id"];
    s.respond("Right answer.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    await s.finish();
    expect(received().filter((m) => m["context_id"] === wrong && m["close_context"] === true)).toHaveLength(
      1,
    );
    expect(samplesOf(s.down.frames)).toEqual(eleven("Right answer."));
    expect(tts.preemptiveSpeechDiscarded).toBe(1);
  });
});

describe("preemptive speech on OpenAI speech (loopback HTTP)", () => {
  const speech = (text: string) => Array.from({ length: text.length * 240 }, (_, i) => speechSample(i));

  it("a right guess is one request, made before the answer; a wrong one's request is closed and the answer asked for", async () => {
    const server = await fakeOpenAIAudio();
    cleanups.push(() => server.close());
    const tts = new OpenAITTSService({ apiKey: "test-key", baseURL: server.baseURL, env: {} });
    const s = await startTTS(tts, new SystemClock()); // HTTP bodies are real I/O: real time, short waits
    const inputs = () => server.requests.map((r) => (r.json as { input?: string } | undefined)?.input);
    s.queue(...guess(1, "Hello there. ", "Bye"));
    await waitFor(s, () => inputs().length === 1, "the guess requested");
    s.answer("Hello there. ", "Bye.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    expect(inputs()).toEqual(["Hello there. ", "Bye."]);
    expect(Array.from(s.samples())).toEqual([...speech("Hello there. "), ...speech("Bye.")]);
    expect(tts.preemptiveSpeechUsed).toBe(1);

    s.queue(...guess(2, "Wrong guess."));
    await waitFor(s, () => inputs().length === 3, "the second guess requested");
    s.answer("Right.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 2, "the second answer");
    await endTTS(s);
    expect(inputs()).toEqual(["Hello there. ", "Bye.", "Wrong guess.", "Right."]);
    expect(Array.from(s.samples()).slice(speech("Hello there. Bye.").length)).toEqual(speech("Right."));
    expect(tts.preemptiveSpeechDiscarded).toBe(1);
  });
});
