/**
 * Function calls in the assistant `npm start` runs, whole (the runner's own cases, timeouts
 * and cancellation included, are in test/services/llm/function-calls/): what only the assembled
 * bot shows. Real time, about 8 s.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { LLMAssistantMessage, LLMToolMessage } from "../../src/context/messages.js";
import {
  type SseWriter,
  answer,
  finishChunk,
  roleChunk,
  textChunk,
  toolCallChunk,
  usageChunk,
} from "../services/llm/loopback-openai.js";
import { type AssistantHarness, startAssistant, utterance } from "./assistant-harness.js";
import { playedText } from "./played-text.js";

const MS_PER_CHAR = 10;
const SAMPLES_PER_CHAR = (24_000 * MS_PER_CHAR) / 1000;

let harness: AssistantHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** "Let me check." then three calls in one answer: the time in two zones (parallel) and a tool the bot does not have. */
function callTools(sse: SseWriter): void {
  sse.send(roleChunk());
  sse.send(textChunk("Let me check."));
  sse.send(
    toolCallChunk({ index: 0, id: "call_paris", name: "get_current_time", arguments: '{"timeZone":' }),
  );
  sse.send(toolCallChunk({ index: 0, arguments: '"Europe/Paris"}' }));
  sse.send(
    toolCallChunk({
      index: 1,
      id: "call_tokyo",
      name: "get_current_time",
      arguments: '{"timeZone":"Asia/Tokyo"}',
    }),
  );
  sse.send(
    toolCallChunk({ index: 2, id: "call_weather", name: "get_weather", arguments: '{"city":"Paris"}' }),
  );
  sse.send(finishChunk("tool_calls"));
  sse.send(usageChunk(50, 20));
  sse.done();
}

describe("function calls in the whole assistant (loopback Deepgram, OpenAI, Cartesia; WebSocket client)", () => {
  it("speaks the words before the calls, runs the built-in get_current_time twice in parallel, answers an unknown tool, then speaks the LLM's second answer", async () => {
    const question = await utterance("vad-espeak", 0);
    const second = "It is evening in Paris and already tomorrow in Tokyo. I cannot look up the weather.";
    harness = await startAssistant({
      greeting: "Hi.",
      deepgram: { utterances: ["What time is it in Paris and Tokyo, and what is the weather?"] },
      cartesia: { msPerChar: MS_PER_CHAR },
      llm: (sse, n) => (n === 1 ? callTools(sse) : answer(sse, second.split(/(?= )/u))),
    });
    const client = await harness.connect();
    const greeted = await client.waitFor("bot-stopped-speaking", 0, 30_000);
    void client.speak(question.samples);
    const userStopped = await client.waitFor("user-stopped-speaking", greeted.atMs);
    // The second request is the aggregator's, once the calls settled and "Let me check." was played.
    const secondRequest = await client.waitFor(
      "bot-llm-started",
      (await client.waitFor("bot-llm-started", userStopped.atMs)).atMs,
    );
    const spoken = await client.waitFor("bot-started-speaking", secondRequest.atMs);
    await client.waitFor("bot-stopped-speaking", spoken.atMs);

    // The first request offered the built-in tool.
    const first = harness.openai.requests[0]!.body;
    expect((first["tools"] as { function: { name: string } }[]).map((t) => t.function.name)).toEqual([
      "get_current_time",
    ]);

    // The client heard the words said before the calls, then the second answer, whole.
    expect(playedText(client.audio, SAMPLES_PER_CHAR, userStopped.atMs, secondRequest.atMs)).toBe(
      "Let me check.",
    );
    expect(playedText(client.audio, SAMPLES_PER_CHAR, secondRequest.atMs)).toBe(second);

    // The context: the words before the calls are the calls' message; three results in place; the answer.
    const { context } = harness.session().parts;
    const messages = context.messages.slice(3); // system, greeting, the user's question
    expect(context.messages[2]).toMatchObject({
      role: "user",
      content: "What time is it in Paris and Tokyo, and what is the weather?",
    });
    const calls = messages[0] as LLMAssistantMessage;
    expect(calls).toMatchObject({ role: "assistant", content: "Let me check." });
    expect(calls.tool_calls?.map((c) => c.id)).toEqual(["call_paris", "call_tokyo", "call_weather"]);
    const results = new Map(
      messages
        .slice(1, 4)
        .map((m) => [
          (m as LLMToolMessage).tool_call_id,
          JSON.parse(String((m as LLMToolMessage).content)) as Record<string, string>,
        ]),
    );
    expect(results.get("call_paris")).toMatchObject({ timeZone: "Europe/Paris" });
    expect(results.get("call_tokyo")).toMatchObject({ timeZone: "Asia/Tokyo" });
    expect(results.get("call_weather")!["error"]).toMatch(
      /there is no function named "get_weather".*get_current_time/,
    );
    expect(messages[4]).toMatchObject({ role: "assistant", content: second });
    expect(messages).toHaveLength(5);

    // The second request carried the three results, after the calls' message.
    const sent = harness.openai.requests[1]!.body["messages"] as { role: string; tool_call_id?: string }[];
    expect(sent.slice(-4).map((m) => m.role)).toEqual(["assistant", "tool", "tool", "tool"]);
    expect(harness.openai.requests).toHaveLength(2);
    expect(client.errors).toEqual([]);
  });

  it("a barge-in cancels a running call but not one that opted out; that one's late result is recorded and answered once the bot is free", async () => {
    const question = await utterance("vad-espeak", 0);
    const bargeIn = await utterance("vad-espeak", 1);
    const release: Array<() => void> = [];
    const signals: AbortSignal[] = [];
    harness = await startAssistant({
      greeting: "Hi.",
      deepgram: { utterances: ["Book a table and find me a taxi.", "Thank you."] },
      cartesia: { msPerChar: MS_PER_CHAR },
      llm: (sse, n) => {
        if (n === 1) {
          sse.send(roleChunk());
          sse.send(textChunk("One moment."));
          sse.send(toolCallChunk({ index: 0, id: "call_taxi", name: "find_taxi", arguments: "{}" }));
          sse.send(toolCallChunk({ index: 1, id: "call_table", name: "book_table", arguments: "{}" }));
          sse.send(finishChunk("tool_calls"));
          sse.done();
        } else if (n === 2) answer(sse, ["You", " are", " welcome."]);
        else answer(sse, ["Your", " table", " is", " booked."]);
      },
      bot: {
        onTask: (_task, { llm }) => {
          const tool = (name: string) => ({
            name,
            description: name,
            parameters: { type: "object" as const, properties: {} },
          });
          const slow = async (_args: unknown, { signal }: { signal: AbortSignal }) => {
            signals.push(signal);
            await new Promise<void>((resolve) => release.push(resolve));
            return { done: true };
          };
          llm.registerFunction(tool("find_taxi"), slow, { timeoutMs: 20_000 });
          llm.registerFunction(tool("book_table"), slow, { timeoutMs: 20_000, cancelOnInterruption: false });
        },
      },
    });
    const client = await harness.connect();
    const greeted = await client.waitFor("bot-stopped-speaking", 0, 30_000);
    void client.speak(question.samples);
    const userStopped = await client.waitFor("user-stopped-speaking", greeted.atMs);
    const said = await client.waitFor("bot-stopped-speaking", userStopped.atMs); // "One moment."
    expect(release).toHaveLength(2); // both calls running
    // The user speaks while the calls run: the cancellable one is cancelled, the other runs on.
    void client.speak(bargeIn.samples);
    const userStarted = await client.waitFor("user-started-speaking", said.atMs);
    const welcomed = await client.waitFor("bot-stopped-speaking", userStarted.atMs);
    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
    expect(harness.openai.requests).toHaveLength(2);
    // Both handlers return now: the cancelled call's result is dropped; the other's is late, recorded, answered.
    for (const r of release) r();
    const third = await client.waitFor("bot-started-speaking", welcomed.atMs);
    const done = await client.waitFor("bot-stopped-speaking", third.atMs);
    expect(playedText(client.audio, SAMPLES_PER_CHAR, welcomed.atMs + 1, done.atMs + 1)).toBe(
      "Your table is booked.",
    );
    const { context, llm } = harness.session().parts;
    expect(llm.lateFunctionResultsDropped).toBe(1);
    const tools = context.messages.filter((m): m is LLMToolMessage => m.role === "tool");
    expect(tools.map((t) => t.tool_call_id)).toEqual(["call_taxi", "call_table"]);
    expect(tools[0]!.status).toBe("cancelled");
    expect(tools[1]!.status).not.toBe("in_progress");
    expect(JSON.parse(String(tools[1]!.content))).toEqual({ done: true });
    const sent = harness.openai.requests[2]!.body["messages"] as { role: string; content: unknown }[];
    expect(sent.some((m) => m.role === "tool" && String(m.content).includes('"done":true'))).toBe(true);
    expect(sent.at(-1)!.role).not.toBe("assistant");
    expect(context.messages.at(-1)).toMatchObject({ role: "assistant", content: "Your table is booked." });
    expect(harness.openai.requests).toHaveLength(3);
  });
});
