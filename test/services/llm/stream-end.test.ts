/**
 * The end of an answer (docs/design/llm-services.md, "The end of an answer"): the answer is
 * finished when the provider says it is complete, not when the body ends; the rest of the body is
 * read in the background, bounded, and let go when the service stops; OpenAI's usage chunk is
 * awaited for a short grace only. Real servers on loopback; a held-open body needs the system
 * clock (the base's reads are real I/O, during which a virtual clock fires no timer).
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  FunctionCallInProgressFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMRunFrame,
  LLMTextFrame,
  SystemClock,
  VirtualClock,
} from "../../../src/index.js";
import { LLMContext, type LLMAssistantMessage, defineTool } from "../../../src/context/index.js";
import { BODY_END_DRAIN_MS } from "../../../src/services/llm/llm-service.js";
import { AnthropicLLMService } from "../../../src/services/anthropic/index.js";
import { GeminiLLMService } from "../../../src/services/gemini/index.js";
import { memoryLogger } from "../../support/logger.js";
import { ResultsToContext } from "./function-calls/harness.js";
import {
  type LoopbackOpenAI,
  type Responder,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  usageChunk,
} from "./loopback-openai.js";
import { type LoopbackAnthropic, loopbackAnthropic, signatureOf } from "../anthropic/loopback-anthropic.js";
import {
  answer as anthropicAnswer,
  blockStop,
  messageDelta,
  messageStart,
  messageStop,
  thinkingBlockStart,
  thinkingDelta,
} from "../anthropic/anthropic-events.js";
import { type LoopbackSse, loopbackSse, until } from "../http/loopback-sse.js";
import { count, runLLM, runOpenAI, runProcessor, userContext } from "../http/run-llm.js";

const closers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((s) => s.close()));
});

async function openaiServer(respond: Responder): Promise<LoopbackOpenAI> {
  const s = await loopbackOpenAI(respond);
  closers.push(s);
  return s;
}

const ends = (t: ReturnType<typeof runOpenAI>): number => count(t.down, LLMFullResponseEndFrame);

describe("OpenAI: the answer ends at finish_reason (and its usage), not at the end of the body", () => {
  it("usage asked for but never sent, body held open: End after the usage grace, said once, then counted; the body is let go after BODY_END_DRAIN_MS, its connection closed", async () => {
    const srv = await openaiServer((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Hello."));
      sse.send(finishChunk("stop")); // a compatible server that ignores stream_options; body held open
    });
    const t = runOpenAI(srv, { usageGraceMs: 50, stallTimeoutMs: 3_000 });
    for (let turn = 1; turn <= 2; turn++) {
      t.task.queueFrame(new LLMContextFrame(userContext(`q${turn}`)));
      await until(() => ends(t) === turn || t.upErrors().length > 0, 2_000, `answer ${turn}`);
      // The body is still open: read in the background, not waited on.
      expect(t.llm.bodiesDraining).toBe(1);
      expect(srv.requests[turn - 1]!.closed).toBe(false);
      const drainStart = performance.now();
      await until(() => srv.requests[turn - 1]!.closed, 3_000, "the body let go");
      const drainMs = performance.now() - drainStart;
      expect(drainMs).toBeLessThan(BODY_END_DRAIN_MS + 500);
      expect(srv.requests[turn - 1]!.abortedByClient).toBe(true);
      expect(t.llm.bodiesDraining).toBe(0);
    }
    await t.finish();
    expect(t.textsAfter()).toEqual(["Hello.", "Hello."]);
    expect(t.upErrors()).toEqual([]);
    expect(t.metrics().map((m) => m.kind)).not.toContain("llm_usage");
    const late = t.warnings().filter((w) => w.includes("did not follow within 50 ms"));
    // Said at the first answer; the second is only counted (the summary at the end says so).
    expect(late[0]).toContain("includeUsage: false");
    expect(late.slice(1).join("\n")).toMatch(/^[^\n]*1 more time[^\n]*$/);
  });

  it("the usage chunk a moment after finish_reason (within the grace) is reported", async () => {
    const srv = await openaiServer(async (sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Hi."));
      sse.send(finishChunk("stop"));
      await new Promise((r) => setTimeout(r, 20));
      sse.send(usageChunk(12, 3)); // ...and the body stays open
    });
    const t = runOpenAI(srv, { usageGraceMs: 2_000 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => ends(t) === 1, 3_000, "the answer");
    await until(() => t.metrics().some((m) => m.kind === "llm_usage"), 1_000, "the usage metric");
    await t.finish();
    expect(t.metrics().find((m) => m.kind === "llm_usage")?.value).toMatchObject({
      promptTokens: 12,
      completionTokens: 3,
    });
    expect(t.warnings()).toEqual([]);
    expect(t.upErrors()).toEqual([]);
  });

  it("usage asked for, a server that never sends it but ends its body: the answer ends with the body, no grace spent, no warning", async () => {
    const srv = await openaiServer((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Hi."));
      sse.send(finishChunk("stop"));
      sse.done();
    });
    const t = runOpenAI(srv, { usageGraceMs: 60_000, stallTimeoutMs: 60_000 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => ends(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(t.warnings()).toEqual([]);
    expect(t.upErrors()).toEqual([]);
    expect(srv.requests[0]!.abortedByClient).toBe(false);
  });

  it("includeUsage off: End at finish_reason, no grace, no warning", async () => {
    const srv = await openaiServer((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Hi."));
      sse.send(finishChunk("stop"));
    });
    const t = runOpenAI(srv, { includeUsage: false, usageGraceMs: 60_000, stallTimeoutMs: 60_000 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => ends(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(t.warnings()).toEqual([]);
    expect(srv.requests[0]!.body["stream_options"]).toBeUndefined();
  });

  it("a body that breaks after the answer was complete: the answer stands (its tool call runs), one error says what broke, no failure counted", async () => {
    const weather = defineTool({
      name: "get_weather",
      description: "Weather",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    });
    const srv = await openaiServer(async (sse) => {
      sse.send(roleChunk());
      sse.send({
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        created: 1,
        model: "gpt-test",
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                {
                  index: 0,
                  id: "call_1",
                  type: "function",
                  function: { name: "get_weather", arguments: '{"city":"Paris"}' },
                },
              ],
            },
            finish_reason: null,
          },
        ],
      });
      sse.send(finishChunk("tool_calls"));
      sse.send(usageChunk(10, 5));
      await new Promise((r) => setTimeout(r, 20));
      sse.destroy(); // no [DONE], no end of the chunked body
    });
    const context = new LLMContext({ messages: [{ role: "user", content: "Weather?" }], tools: [weather] });
    const t = runOpenAI(srv, { context });
    t.llm.registerFunction(weather, () => ({ temp_c: 18 }));
    const failures: string[] = [];
    t.llm.on("completionFailed", (e) => void failures.push(e.message));
    t.task.queueFrame(new LLMRunFrame());
    await until(() => t.upErrors().length > 0, 3_000, "the error");
    await t.finish();
    expect(t.down.ofType(FunctionCallInProgressFrame)).toHaveLength(1);
    expect(t.upErrors()).toHaveLength(1);
    expect(t.upErrors()[0]).toMatch(/the answer was complete, but the rest of its body broke/);
    expect(failures).toEqual([]);
  });

  it("the pipeline ending while a body is held open lets go of it at once (virtual clock: the drain is not waited on)", async () => {
    const srv = await openaiServer((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Bye."));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(1, 1)); // body held open
    });
    const clock = new VirtualClock();
    const t = runOpenAI(srv, {}, clock);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await clock.runUntil(() => ends(t) === 1);
    await t.finish();
    expect(t.llm.bodiesDraining).toBe(0);
    await until(() => srv.requests[0]!.closed, 2_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.upErrors()).toEqual([]);
  });
});

describe("Gemini: the answer ends at the chunk with finishReason", () => {
  it("its usage (on that chunk) is reported though the body stays open", async () => {
    const srv: LoopbackSse = await loopbackSse(
      (url) => url.includes(":streamGenerateContent"),
      (sse) => {
        sse.data({
          candidates: [
            { content: { role: "model", parts: [{ text: "Sunny." }] }, finishReason: "STOP", index: 0 },
          ],
          usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 2, totalTokenCount: 9 },
        });
        // ...and the body is held open.
      },
      { error: { code: 404, message: "not found", status: "NOT_FOUND" } },
    );
    closers.push(srv);
    const llm = new GeminiLLMService({
      apiKey: "AIza-test",
      baseUrl: srv.baseUrl,
      env: {},
      model: "gemini-test",
    });
    const t = runLLM(llm, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 3_000, "the answer");
    await until(() => t.metrics().some((m) => m.kind === "llm_usage"), 1_000, "the usage metric");
    await t.finish();
    expect(t.textsAfter()).toEqual(["Sunny."]);
    expect(t.metrics().find((m) => m.kind === "llm_usage")?.value).toMatchObject({
      promptTokens: 7,
      completionTokens: 2,
    });
  });
});

describe("Anthropic: an unsigned or unfinished thinking block is a malformed stream", () => {
  const weather = defineTool({
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  });
  async function anthropic(respond: Parameters<typeof loopbackAnthropic>[0]): Promise<LoopbackAnthropic> {
    const srv = await loopbackAnthropic(respond);
    closers.push(srv);
    return srv;
  }
  function service(srv: LoopbackAnthropic, context: LLMContext): AnthropicLLMService {
    const llm = new AnthropicLLMService({
      apiKey: "sk-ant-test",
      baseUrl: srv.baseUrl,
      env: {},
      model: "claude-test",
      maxTokens: 4096,
      params: { thinking: { type: "enabled", budget_tokens: 2048 } },
      retryBackoffMs: 10,
      context,
    });
    llm.registerFunction(weather, ({ city }) => ({ city, temp_c: 18 }));
    return llm;
  }
  const hasToolResult = (body: Record<string, unknown>): boolean =>
    JSON.stringify(body["messages"]).includes('"tool_result"');

  it("retried once: the context then holds only the retry's signed block with its call", async () => {
    const srv = await anthropic((sse, n, thinking) => {
      if (hasToolResult(sse.request.body)) return anthropicAnswer(sse, ["It is 18 degrees."]);
      messageStart(sse);
      if (n === 1) {
        thinkingBlockStart(sse, 0);
        thinkingDelta(sse, 0, "First, unsigned.");
        blockStop(sse, 0);
      } else {
        thinking.thinking(sse, 0, ["Second, ", "signed."]);
      }
      thinking.toolUse(sse, 1, `toolu_${n}`, "get_weather", { city: "Paris" });
      messageDelta(sse, "tool_use", 40);
      messageStop(sse);
      sse.end();
    });
    const clock = new VirtualClock();
    const log = memoryLogger();
    const context = new LLMContext({ messages: [{ role: "user", content: "Weather in Paris?" }] });
    const llm = service(srv, context);
    const t = runProcessor(llm, {
      clock,
      logger: log.logger,
      after: [new ResultsToContext(() => llm.llmContext)],
    });
    t.task.queueFrame(new LLMRunFrame());
    await clock.runUntil(() => t.down.ofType(LLMTextFrame).length > 0 || t.errors.length > 0);
    await t.finish();
    expect(t.errors).toEqual([]);
    const retry = log.lines.filter((l) => l.level === "warn" && l.message.includes("retrying once"));
    expect(retry).toHaveLength(1);
    expect(retry[0]!.message).toMatch(/thinking block 0 ended \(content_block_stop\) without its signature/);
    const withCalls = context.messages.filter(
      (m): m is LLMAssistantMessage => m.role === "assistant" && !!m.tool_calls,
    );
    expect(withCalls).toHaveLength(1);
    expect(withCalls[0]!.tool_calls!.map((c) => c.id)).toEqual(["toolu_2"]);
    expect(withCalls[0]!.anthropic?.thinking).toEqual([
      { type: "thinking", thinking: "Second, signed.", signature: signatureOf("Second, signed.") },
    ]);
  });

  it("broken twice: one error naming the unfinished block; nothing of it is recorded", async () => {
    const srv = await anthropic((sse) => {
      messageStart(sse);
      thinkingBlockStart(sse, 0);
      thinkingDelta(sse, 0, "Never closed.");
      messageDelta(sse, "end_turn", 4);
      messageStop(sse);
      sse.end();
    });
    const clock = new VirtualClock();
    const context = new LLMContext({ messages: [{ role: "user", content: "Weather in Paris?" }] });
    const t = runLLM(service(srv, context), clock);
    t.task.queueFrame(new LLMRunFrame());
    await clock.runUntil(() => t.errors.length > 0);
    await t.finish();
    expect(srv.requests).toHaveLength(2);
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]!.error.message).toMatch(
      /malformed \(thinking block 0 was never closed \(no content_block_stop\) before message_stop/,
    );
    expect(context.messages.map((m) => m.role)).toEqual(["user"]);
    expect(t.kinds()).toEqual([]);
  });
});
