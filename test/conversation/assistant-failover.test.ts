/**
 * Failover in the assistant `npm start` runs, whole: the first LLM fails and the bot's
 * `fallbackLLM` answers within the turn (the switcher's own cases, stalls included, are in
 * test/services/service-switcher.test.ts). Real time, about 6 s.
 */
import { afterEach, describe, expect, it } from "vitest";
import { answer } from "../services/llm/loopback-openai.js";
import { type AssistantHarness, startAssistant, utterance } from "./assistant-harness.js";
import { playedText } from "./played-text.js";

const MS_PER_CHAR = 10;
const SAMPLES_PER_CHAR = (24_000 * MS_PER_CHAR) / 1000;

let harness: AssistantHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("failover in the whole assistant (loopback Deepgram, two OpenAI-compatible servers, Cartesia)", () => {
  it("when the first LLM answers 500s, the fallback answers within the turn and the user hears one answer", async () => {
    const question = await utterance("vad-espeak", 0);
    const reply = "The backup heard you. Here is your answer.";
    harness = await startAssistant({
      greeting: "Hi.",
      deepgram: { utterances: ["Are you there?"] },
      cartesia: { msPerChar: MS_PER_CHAR },
      llm: (sse) => sse.error(500, "the primary is down"),
      backupLlm: (sse) => answer(sse, reply.split(/(?= )/u)),
    });
    const client = await harness.connect();
    const greeted = await client.waitFor("bot-stopped-speaking", 0, 30_000);
    void client.speak(question.samples);
    const userStopped = await client.waitFor("user-stopped-speaking", greeted.atMs);
    const started = await client.waitFor("bot-started-speaking", userStopped.atMs);
    const stopped = await client.waitFor("bot-stopped-speaking", started.atMs);

    // The primary was asked twice for the turn (its own retry), plus its preemptive request when
    // the words looked complete (failed, so dropped unheard); the backup once, with the question.
    const primary = harness.session().parts.llm;
    expect(primary.preemptiveAnswersUsed).toBe(0);
    expect(primary.preemptiveAnswersDiscarded).toBeLessThanOrEqual(1);
    expect(harness.openai.requests).toHaveLength(2 + primary.preemptiveAnswersDiscarded);
    expect(harness.backupOpenai!.requests).toHaveLength(1);
    const sent = harness.backupOpenai!.requests[0]!.body["messages"] as { role: string; content: unknown }[];
    expect(sent.at(-1)).toEqual({ role: "user", content: "Are you there?" });
    expect(harness.backupOpenai!.requests[0]!.body["tools"]).toHaveLength(1);
    // One answer, whole, in the same turn; the context holds it once.
    expect(client.received("bot-llm-started").filter((m) => m.atMs > userStopped.atMs)).toHaveLength(1);
    expect(playedText(client.audio, SAMPLES_PER_CHAR, userStopped.atMs, stopped.atMs + 1)).toBe(reply);
    const { context, llmSwitcher } = harness.session().parts;
    expect(context.messages.at(-1)).toMatchObject({ role: "assistant", content: reply });
    expect(llmSwitcher?.active).toBe(llmSwitcher?.services[1]);
    expect(client.errors).toEqual([]);
  });
});
