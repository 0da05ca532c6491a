/**
 * The assistant `npm start` runs, whole: the development server, `runAssistantBot` with
 * Deepgram → OpenAI → Cartesia pointed at loopback servers that speak each provider's protocol,
 * and a loopback client speaking the official web client's protocol with recorded speech, in
 * real time (about 12 s).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { LLMAssistantMessage } from "../../src/context/messages.js";
import { type SseWriter, answer } from "../services/llm/loopback-openai.js";
import { type AssistantHarness, startAssistant, utterance } from "./assistant-harness.js";
import { firstAudibleAt, lastAudibleAt, playedText, wordStarts } from "./played-text.js";

const MS_PER_CHAR = 20;
/** Samples of one character at the output's 24 kHz. */
const SAMPLES_PER_CHAR = (24_000 * MS_PER_CHAR) / 1000;
/**
 * How far the words committed may run ahead of the audio the client received: a word is released
 * just before the chunk it starts in is written, so an interruption between the two leaves one chunk.
 */
const WORD_AHEAD_ALLOWANCE_MS = 40;
/** One output chunk (40 ms) is this many characters. */
const CHARS_PER_CHUNK = 40 / MS_PER_CHAR;

const LONG_ANSWER =
  "Mars is a cold desert world with a thin atmosphere. Its average temperature is about minus sixty degrees. " +
  "Dust storms can cover the whole planet for months. The winds are fast, but the air is too thin to knock you over.";

/** Streams `text` word by word (each token with its leading space), as a model does. */
function streamWords(sse: SseWriter, text: string): void {
  answer(sse, text.split(/(?= )/u));
}

let harness: AssistantHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("the assistant on loopback Deepgram, OpenAI and Cartesia, through the WebSocket transport", () => {
  it("greets, answers a question, stops at once when the user barges in, remembers only what was played, and answers the next turn", async () => {
    const question = await utterance("vad-espeak", 0);
    const bargeIn = await utterance("vad-espeak", 1);
    harness = await startAssistant({
      greeting: "Hi there.",
      deepgram: { utterances: ["Tell me about Mars.", "Thank you."] },
      cartesia: { msPerChar: MS_PER_CHAR },
      llm: (sse, n) => streamWords(sse, n === 1 ? LONG_ANSWER : "You are welcome."),
    });
    const client = await harness.connect();
    const latencies: unknown[] = [];
    harness.session().parts.latency.on("turnLatency", (r) => latencies.push(r));

    // The greeting is played once the client is ready.
    await client.waitFor("bot-ready", 0, 30_000); // the session starts (Silero, two provider sockets)
    const greeted = await client.waitFor("bot-stopped-speaking", 0, 30_000);
    expect(playedText(client.audio, SAMPLES_PER_CHAR, 0, greeted.atMs)).toBe("Hi there.");

    // The user asks; Deepgram transcribes; OpenAI answers; Cartesia speaks; the client hears it.
    void client.speak(question.samples);
    const transcript = await client.waitFor("user-transcription", greeted.atMs);
    const answerStarted = await client.waitFor("bot-started-speaking", transcript.atMs);
    // Let about 1.5 s of the answer play, then barge in.
    await new Promise((r) => setTimeout(r, 1_500));
    const bargeInAt = performance.now();
    void client.speak(bargeIn.samples);
    const userStarted = await client.waitFor("user-started-speaking", bargeInAt);
    await client.waitFor("bot-interrupted", bargeInAt).catch(() => undefined);

    // The next turn is answered.
    const secondRequest = await client.waitFor("bot-llm-started", userStarted.atMs);
    const secondAnswer = await client.waitFor("bot-started-speaking", userStarted.atMs);
    await client.waitFor("bot-stopped-speaking", secondAnswer.atMs);
    const end = performance.now();

    // The audio stopped promptly at the client: nothing of the first answer after the barge-in.
    const lastOfFirst = lastAudibleAt(client.audio, answerStarted.atMs, secondRequest.atMs)!;
    if (process.env.DEBUG_CONV === "2") {
      const t0 = answerStarted.atMs;
      console.log(
        client.messages
          .filter((m) => m.atMs >= t0 - 2000)
          .map((m) => `${(m.atMs - t0).toFixed(0)} ${m.type} ${String(JSON.stringify(m.data)).slice(0, 80)}`)
          .join("\n"),
      );
      console.log(
        client.audio
          .filter((a) => a.atMs >= t0 - 100)
          .map((a) => `${(a.atMs - t0).toFixed(0)}:${a.samples.length}:${a.samples[0]}`)
          .join(" "),
      );
    }
    expect(lastOfFirst - userStarted.atMs).toBeLessThan(150);
    const heard = playedText(client.audio, SAMPLES_PER_CHAR, answerStarted.atMs - 50, secondRequest.atMs);
    expect(LONG_ANSWER.startsWith(heard)).toBe(true);
    expect(heard.length).toBeGreaterThan(40); // well into the answer…
    expect(heard.length).toBeLessThan(LONG_ANSWER.length - 40); // …and well before its end

    // The context holds exactly the words whose audio the client received, marked interrupted
    // (within one 40 ms chunk at the boundary).
    const { context } = harness.session().parts;
    const messages = context.messages;
    const assistant = messages.filter((m): m is LLMAssistantMessage => m.role === "assistant");
    expect(assistant.map((m) => m.content)).toHaveLength(3);
    expect(assistant[0]).toMatchObject({ content: "Hi there." });
    const interrupted = assistant[1]!;
    expect(interrupted.interrupted).toBe(true);
    const committed = String(interrupted.content);
    const committedWords = committed.split(" ");
    expect(LONG_ANSWER.split(" ").slice(0, committedWords.length)).toEqual(committedWords);
    // Never less than what was played: every word whose audio began a chunk before the end of
    // what the client received is in the context.
    const words = wordStarts(LONG_ANSWER);
    expect(committedWords.length).toBeGreaterThanOrEqual(
      words.filter((w) => w.at < heard.length - CHARS_PER_CHUNK).length,
    );
    // More than was played by at most one chunk at the boundary, plus the chunk a word is released
    // ahead of (docs/design/tts-text.md, "Word timing": words follow the audio written, not the clock).
    const lastWordAt = words[committedWords.length - 1]!.at;
    const aheadMs = (lastWordAt - heard.length) * MS_PER_CHAR;
    if (process.env.DEBUG_CONV) {
      console.log({ heard, committed, aheadMs, stopGapMs: lastOfFirst - userStarted.atMs, latencies });
    }
    expect(aheadMs).toBeLessThan(40 + WORD_AHEAD_ALLOWANCE_MS);
    expect(assistant[2]).toMatchObject({ content: "You are welcome." });
    expect(assistant[2]!.interrupted).toBeUndefined();
    expect(messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual([
      "Tell me about Mars.",
      "Thank you.",
    ]);

    // The second request to the LLM held the spoken prefix, not the whole answer.
    const second = harness.openai.requests[1]!.body["messages"] as { role: string; content: unknown }[];
    expect(second.map((m) => m.role)).toEqual(["system", "assistant", "user", "assistant", "user"]);
    expect(second[3]!.content).toBe(committed);
    expect(harness.openai.requests).toHaveLength(2);
    // Preemptive generation (on in the assistant): Deepgram's end of utterance came before the
    // VAD's stop, the answer was asked for then, and used; no answer was asked for twice.
    expect(harness.session().parts.llm.preemptiveAnswersUsed).toBeGreaterThanOrEqual(1);
    expect(harness.session().parts.llm.preemptiveAnswersDiscarded).toBe(0);
    // And preemptive speech: the TTS synthesised the held answer's first sentence ahead and used it.
    expect(harness.session().parts.tts.preemptiveSpeechUsed).toBeGreaterThanOrEqual(1);
    expect(harness.session().parts.tts.preemptiveSpeechDiscarded).toBe(0);

    // The second answer reached the client whole.
    expect(playedText(client.audio, SAMPLES_PER_CHAR, secondRequest.atMs, end)).toBe("You are welcome.");
    expect(firstAudibleAt(client.audio, secondRequest.atMs)).toBeDefined();
    expect(client.errors).toEqual([]);
  });
});
