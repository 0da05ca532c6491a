/**
 * The assistant (`npm start` with provider keys) answering a phone call: `runAssistantBot` with
 * Deepgram → OpenAI → Cartesia pointed at loopback servers, and a simulated Twilio stream
 * (test/support/fake-callers.ts) for the caller. The pipeline runs at the stream's 8 kHz: Deepgram
 * is asked for 8 kHz audio and Cartesia speaks at 8 kHz. Real time (about 10 s).
 */
import { performance } from "node:perf_hooks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import type { LLMAssistantMessage } from "../../src/context/messages.js";
import { resampleOnce } from "../../src/audio/resampler.js";
import { answer } from "../services/llm/loopback-openai.js";
import { FakeCaller, type HeardAudio } from "../support/fake-callers.js";
import { type AssistantHarness, startAssistant, utterance } from "./assistant-harness.js";

const LONG_ANSWER =
  "Mars is a cold desert world with a thin atmosphere. Its average temperature is about minus sixty degrees. " +
  "Dust storms can cover the whole planet for months. The winds are fast, but the air is too thin to knock you over.";

// The shared Silero model, loaded before the call as `npm start` does (else the first call's
// pipeline waits for it, 3–10 s on a loaded machine, before the greeting).
beforeAll(() => new SileroVADAnalyzer().ready(), 60_000);

let harness: AssistantHarness | undefined;
let call: FakeCaller | undefined;
afterEach(async () => {
  call?.dispose();
  await harness?.close();
  harness = undefined;
});

/** Whether a message holds the bot's voice: the loopback Cartesia never sends a zero sample, and the ambience is off. */
const voiced = (a: HeardAudio): boolean => a.samples.some((v) => v !== 0);

describe("the assistant answering a Twilio call", () => {
  it("greets in 8 kHz μ-law, answers the caller's question through Deepgram, the LLM and Cartesia, clears on a barge-in, and ends on hang-up", async () => {
    const question = await utterance("vad-espeak", 0);
    const bargeIn = await utterance("vad-espeak", 1);
    harness = await startAssistant({
      telephony: "twilio",
      greeting: "Hi there.",
      deepgram: { utterances: ["Tell me about Mars.", "Thank you."] },
      cartesia: { msPerChar: 20 },
      llm: (sse, n) => answer(sse, (n === 1 ? LONG_ANSWER : "You are welcome.").split(/(?= )/u)),
    });
    call = await FakeCaller.dial(harness.wsUrl, "twilio");
    const caller = call;

    // The greeting: no RTVI client to wait for; it plays as soon as the pipeline runs.
    const greetedAt = await caller.waitUntil(() => caller.audio.find(voiced)?.atMs, "the greeting", 30_000);
    expect(new Set(caller.audio.map((a) => a.bytes))).toEqual(new Set([160]));
    const { parts } = harness.session();
    expect(parts.call?.provider).toBe("twilio");
    expect(parts.call?.callId).toBe(caller.ids.callId);

    // The question: Deepgram hears 8 kHz audio, the LLM is asked, Cartesia's answer comes back.
    const asked = await caller.speak(await resampleOnce(question.samples, 16_000, 8000));
    await caller.waitUntil(() => harness!.openai.requests.length === 1, "the LLM request", 5000);
    const answerAt = await caller.waitUntil(
      () => caller.heard(asked.endMs).find(voiced)?.atMs,
      "the answer's audio",
      5000,
    );

    // Barge in 1.5 s into the answer: Twilio's clear comes within 500 ms of the speech onset, and
    // no more of the answer follows it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(greetedAt).toBeLessThan(answerAt);
    const barged = await caller.speak(await resampleOnce(bargeIn.samples, 16_000, 8000));
    const speechOnset = barged.startMs + 100; // the utterance starts with 100 ms of the fixture's silence
    const clearAt = caller.clears.find((t) => t > barged.startMs);
    expect(clearAt, "a clear after the barge-in").toBeDefined();
    console.log(
      `measured (assistant, twilio): clear ${(clearAt! - speechOnset).toFixed(0)} ms after the barge-in's onset`,
    );
    expect(clearAt! - speechOnset).toBeLessThan(500);
    await caller.waitUntil(() => harness!.openai.requests.length === 2, "the second LLM request", 5000);
    const secondAskedAt = performance.now();
    expect(caller.heard(clearAt! + 60, secondAskedAt - 100).filter(voiced)).toEqual([]);
    await caller.waitUntil(() => caller.heard(secondAskedAt).find(voiced), "the second answer", 5000);

    // The context: the greeting, the answer cut where the caller barged in, the next answer.
    await caller.waitUntil(
      () => parts.context.messages.filter((m) => m.role === "assistant").length === 3,
      "three assistant messages",
      5000,
    );
    const assistant = parts.context.messages.filter((m): m is LLMAssistantMessage => m.role === "assistant");
    expect(assistant[0]).toMatchObject({ content: "Hi there." });
    expect(assistant[1]!.interrupted).toBe(true);
    expect(LONG_ANSWER.startsWith(String(assistant[1]!.content))).toBe(true);
    expect(parts.context.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual([
      "Tell me about Mars.",
      "Thank you.",
    ]);

    // The caller hangs up: Twilio's stop ends the call; the server closes the socket.
    const hungUpAt = performance.now();
    const end = await caller.hangUp();
    expect(end.by).toBe("server");
    expect(end.atMs - hungUpAt).toBeLessThan(2000);
    expect((await harness.outcome).how).toBe("ended");
    expect(caller.violations).toEqual([]);
  });
});
