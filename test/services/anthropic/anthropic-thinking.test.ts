/**
 * Extended thinking with tools, against a loopback Messages server that checks, like Anthropic,
 * that the thinking blocks of the assistant message whose tool results follow come back first and
 * unchanged (test/services/anthropic/loopback-anthropic.ts): the function-call path end to end,
 * redacted thinking, interruptions, thinking without tools, and what is never spoken.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  FunctionCallInProgressFrame,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMRunFrame,
  LLMTextFrame,
  SystemClock,
  VirtualClock,
} from "../../../src/index.js";
import {
  LLMContext,
  type LLMAssistantMessage,
  defineTool,
  toGeminiRequest,
  toOpenAIRequest,
} from "../../../src/context/index.js";
import type { LLMServiceError } from "../../../src/services/llm/index.js";
import {
  AnthropicLLMService,
  type AnthropicLLMServiceOptions,
} from "../../../src/services/anthropic/index.js";
import {
  AnthropicStreamTranslator,
  MAX_THINKING_CHARS,
} from "../../../src/services/anthropic/anthropic-stream.js";
import type { ServerSentEvent } from "../../../src/services/http/event-stream.js";
import { EventStreamError } from "../../../src/services/http/http-errors.js";
import { ResultsToContext } from "../llm/function-calls/harness.js";
import { until } from "../http/loopback-sse.js";
import { count, runLLM, runProcessor } from "../http/run-llm.js";
import {
  answer,
  blockStop,
  messageDelta,
  messageStart,
  messageStop,
  signatureDelta,
  textBlockStart,
  textDelta,
  thinkingBlockStart,
  thinkingDelta,
} from "./anthropic-events.js";
import { type LoopbackAnthropic, type ThinkingLedger, loopbackAnthropic } from "./loopback-anthropic.js";
import type { SseWriter } from "../http/loopback-sse.js";

const THINKING = { thinking: { type: "enabled", budget_tokens: 2048 } } as const;
const REASONING = ["The user wants the weather. ", "I should call get_weather ", "for Paris."];

const weather = defineTool({
  name: "get_weather",
  description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
});

const servers: LoopbackAnthropic[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(
  respond: (sse: SseWriter, n: number, thinking: ThinkingLedger) => void | Promise<void>,
): Promise<LoopbackAnthropic> {
  const s = await loopbackAnthropic(respond);
  servers.push(s);
  return s;
}

function service(srv: LoopbackAnthropic, options: AnthropicLLMServiceOptions = {}): AnthropicLLMService {
  return new AnthropicLLMService({
    apiKey: "sk-ant-test",
    baseUrl: srv.baseUrl,
    env: {},
    model: "claude-test",
    maxTokens: 4096,
    params: THINKING,
    ...options,
  });
}

function weatherContext(question = "What's the weather in Paris?"): LLMContext {
  return new LLMContext({
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: question },
    ],
  });
}

/** Thinking, "Let me check.", one get_weather call: what Claude sends with thinking on. */
function thinkThenCall(sse: SseWriter, thinking: ThinkingLedger, redacted = false): void {
  messageStart(sse);
  let index = 0;
  if (redacted) thinking.redacted(sse, index++);
  thinking.thinking(sse, index++, REASONING);
  textBlockStart(sse, index);
  textDelta(sse, index, "Let me check.");
  blockStop(sse, index++);
  thinking.toolUse(sse, index, "toolu_w", "get_weather", { city: "Paris" });
  messageDelta(sse, "tool_use", 80);
  messageStop(sse);
  sse.end();
}

/** The LLM service, then the results written into its context and the context sent back up. */
function runWithResults(srv: LoopbackAnthropic, options: AnthropicLLMServiceOptions = {}) {
  const llm = service(srv, options);
  const results = new ResultsToContext(() => llm.llmContext);
  const clock = new VirtualClock();
  const t = runProcessor(llm, { clock, after: [results] });
  const texts = (): string[] => t.down.ofType(LLMTextFrame).map((f) => f.text);
  const answers = (): number => count(t.down, LLMFullResponseEndFrame);
  return { ...t, llm, texts, answers, clock };
}

type Block = { type: string; [field: string]: unknown };
const sentMessages = (srv: LoopbackAnthropic, n: number) =>
  srv.requests[n]!.body["messages"] as { role: string; content: Block[] }[];

describe("AnthropicLLMService with extended thinking and tools", () => {
  it("a tool call with thinking on completes through the function-call path: the thinking goes back first and unchanged, and is never spoken", async () => {
    const srv = await server((sse, n, thinking) =>
      n === 1 ? thinkThenCall(sse, thinking) : answer(sse, ["It is 18 degrees."]),
    );
    const t = runWithResults(srv, { context: weatherContext() });
    t.llm.registerFunction(weather, ({ city }) => ({ city, temp_c: 18 }));
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2 || t.errors.length > 0);
    await t.finish();
    expect(t.errors.map((e) => e.error.message)).toEqual([]);
    expect(srv.requests).toHaveLength(2);

    // The second request: the assistant message opens with the thinking block as it was sent.
    const [, assistant, results] = sentMessages(srv, 1);
    expect(assistant!.role).toBe("assistant");
    expect(assistant!.content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    expect(assistant!.content[0]).toEqual({
      type: "thinking",
      thinking: REASONING.join(""),
      signature: expect.any(String) as string,
    });
    expect(results!.content[0]).toMatchObject({ type: "tool_result", tool_use_id: "toolu_w" });
    expect(srv.requests[1]!.body["thinking"]).toEqual(THINKING.thinking);

    // Kept in the context, typed, on the message that called the tool.
    const calls = t.llm.llmContext.messages[2] as LLMAssistantMessage;
    expect(calls.tool_calls?.map((c) => c.id)).toEqual(["toolu_w"]);
    expect(calls.anthropic?.thinking).toEqual([assistant!.content[0]]);
    expect(calls.content).toBeNull();

    // Spoken: only the text. No frame but the answer's own carries anything of the thinking.
    expect(t.texts()).toEqual(["Let me check.", "It is 18 degrees."]);
    expect(t.kinds().filter((k) => k !== "FunctionCallResultFrame")).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "FunctionCallsStartedFrame",
      "FunctionCallInProgressFrame",
      "LLMFullResponseEndFrame",
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);

    // Other providers never see it.
    const snapshot = t.llm.llmContext.snapshot();
    for (const other of [
      JSON.stringify(toOpenAIRequest(snapshot)),
      JSON.stringify(toGeminiRequest(snapshot)),
    ]) {
      expect(other).not.toContain("I should call");
      expect(other).not.toContain(String(assistant!.content[0]!["signature"]));
    }
  });

  it("redacted thinking goes back as it came, in order, before the tool_use", async () => {
    const srv = await server((sse, n, thinking) =>
      n === 1 ? thinkThenCall(sse, thinking, true) : answer(sse, ["Sunny."]),
    );
    const t = runWithResults(srv, { context: weatherContext() });
    t.llm.registerFunction(weather, () => "sunny");
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2 || t.errors.length > 0);
    await t.finish();
    expect(t.errors.map((e) => e.error.message)).toEqual([]);
    const assistant = sentMessages(srv, 1)[1]!;
    expect(assistant.content.map((b) => b.type)).toEqual(["redacted_thinking", "thinking", "tool_use"]);
    expect(t.texts()).toEqual(["Let me check.", "Sunny."]);
  });

  it("the words said before the call go between the thinking and the tool_use, as Claude sent them", async () => {
    const srv = await server((sse, n, thinking) =>
      n === 1 ? thinkThenCall(sse, thinking) : answer(sse, ["Sunny."]),
    );
    const t = runWithResults(srv, { context: weatherContext() });
    t.llm.registerFunction(weather, async (_args, { clock }) => {
      await clock.sleep(100);
      return "sunny";
    });
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => count(t.down, FunctionCallInProgressFrame) === 1);
    // The assistant aggregator commits what was played into the calls' message.
    t.llm.llmContext.addAssistantText("Let me check.");
    await t.clock.runUntil(() => t.answers() === 2 || t.errors.length > 0);
    await t.finish();
    expect(t.errors.map((e) => e.error.message)).toEqual([]);
    expect(sentMessages(srv, 1)[1]!.content.map((b) => b.type)).toEqual(["thinking", "text", "tool_use"]);
  });

  it("an interrupted turn: the cancelled call's thinking still opens its message when the user speaks again", async () => {
    const srv = await server((sse, n, thinking) =>
      n === 1 ? thinkThenCall(sse, thinking) : answer(sse, ["Sure, Oslo then."]),
    );
    const t = runWithResults(srv, { context: weatherContext() });
    t.llm.registerFunction(
      weather,
      (_args, { signal }) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason as Error)),
        ),
    );
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => count(t.down, FunctionCallInProgressFrame) === 1);
    t.llm.llmContext.addAssistantText("Let me", { interrupted: true });
    t.task.queueFrame(new InterruptionFrame());
    await t.clock.runUntil(() => t.llm.llmContext.toolCallStatus("toolu_w") === "cancelled");
    t.llm.llmContext.addMessage({ role: "user", content: "No, Oslo." });
    t.task.queueFrame(new LLMContextFrame(t.llm.llmContext));
    await t.clock.runUntil(() => t.answers() === 2 || t.errors.length > 0);
    await t.finish();
    expect(t.errors.map((e) => e.error.message)).toEqual([]);
    const messages = sentMessages(srv, 1);
    expect(messages[1]!.content.map((b) => b.type)).toEqual(["thinking", "text", "tool_use"]);
    expect(messages[1]!.content[1]).toEqual({ type: "text", text: "Let me" });
    expect(messages[2]!.content.map((b) => b.type)).toEqual(["tool_result", "text"]);
    expect(t.texts().at(-1)).toBe("Sure, Oslo then.");
  });

  it("an interruption while Claude thinks closes the request; nothing of it is kept or said, and the next turn is answered", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const srv = await server(async (sse, n, thinking) => {
      if (n === 2) return answer(sse, ["Hello again."]);
      messageStart(sse);
      thinkingBlockStart(sse, 0);
      thinkingDelta(sse, 0, "Let me think about ");
      await held;
      thinking.thinking(sse, 1, ["never sent"]);
    });
    const context = weatherContext();
    context.setTools([weather]);
    const t = runLLM(service(srv), new VirtualClock());
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => srv.requests.length === 1, 5_000, "the request");
    t.task.queueFrame(new InterruptionFrame());
    await until(() => srv.requests[0]!.closed, 5_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    release();
    expect(context.messages).toHaveLength(2);
    context.addMessage({ role: "user", content: "Hello?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    expect(t.textsAfter()).toEqual(["Hello again."]);
    expect(t.errors).toEqual([]);
  });

  it("thinking with no tools: only the answer is spoken, nothing is recorded, the next turn goes through", async () => {
    const srv = await server((sse, n, thinking) => {
      messageStart(sse);
      thinking.thinking(sse, 0, ["Greet them ", "warmly."]);
      textBlockStart(sse, 1);
      textDelta(sse, 1, `Hello ${n}.`);
      blockStop(sse, 1);
      messageDelta(sse, "end_turn", 30);
      messageStop(sse);
      sse.end();
    });
    const t = runLLM(service(srv), new VirtualClock());
    const context = weatherContext("Hi!");
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 5_000, "the first answer");
    context.addAssistantText("Hello 1.");
    context.addMessage({ role: "user", content: "How are you?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    expect(t.errors).toEqual([]);
    expect(t.textsAfter()).toEqual(["Hello 1.", "Hello 2."]);
    expect(context.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(JSON.stringify(context.messages)).not.toContain("warmly");
    expect(sentMessages(srv, 1).map((m) => m.content.map((b) => b.type).join())).toEqual([
      "text",
      "text",
      "text",
    ]);
  });

  it("thinking keeps the stream alive: a model that thinks longer than stallTimeoutMs is not abandoned as stalled", async () => {
    const srv = await server(async (sse, _n, thinking) => {
      messageStart(sse);
      thinkingBlockStart(sse, 0);
      // 8 × 200 ms of thinking: longer than stallTimeoutMs (1 s) in all, each gap well inside it
      // (800 ms of slack, so a loaded machine's late timer cannot make a gap look like a stall).
      for (let i = 0; i < 8; i++) {
        thinkingDelta(sse, 0, `step ${i}. `);
        await new Promise((r) => setTimeout(r, 200));
      }
      signatureDelta(sse, 0, "sig-0"); // a block without it is a malformed stream
      blockStop(sse, 0);
      thinking.thinking(sse, 1, ["Done thinking."]);
      textBlockStart(sse, 2);
      textDelta(sse, 2, "Here you are.");
      blockStop(sse, 2);
      messageStop(sse);
      sse.end();
    });
    const t = runLLM(service(srv, { stallTimeoutMs: 1_000 }), new SystemClock());
    t.task.queueFrame(new LLMContextFrame(weatherContext()));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 10_000, "the answer");
    await t.finish();
    expect(t.errors.map((e) => e.error.message)).toEqual([]);
    expect(srv.requests).toHaveLength(1);
    expect(t.textsAfter()).toEqual(["Here you are."]);
  });
});

describe("the loopback server refuses what Anthropic refuses", () => {
  const toolResultTurn = (thinking: LLMAssistantMessage["anthropic"]) =>
    new LLMContext({
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "toolu_1",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Paris"}' },
            },
          ],
          ...(thinking ? { anthropic: thinking } : {}),
        },
        { role: "tool", tool_call_id: "toolu_1", content: "sunny" },
      ],
      tools: [weather],
    });

  for (const [what, thinking, words] of [
    ["no thinking", undefined, "must start with a thinking block"],
    [
      "a signature that does not sign its text",
      { thinking: [{ type: "thinking", thinking: "edited", signature: "c2ln" }] },
      "Invalid `signature`",
    ],
  ] as const) {
    it(`a tool result after an assistant message with ${what} is a 400 said in Anthropic's words, not retried`, async () => {
      const srv = await server((sse) => answer(sse, ["never"]));
      const t = runLLM(service(srv), new VirtualClock());
      t.task.queueFrame(new LLMContextFrame(toolResultTurn(thinking)));
      await t.finish();
      expect(srv.requests).toHaveLength(1);
      const error = t.errors[0]!.error as LLMServiceError;
      expect(error.failure).toBe("request");
      expect(error.status).toBe(400);
      expect(error.message).toContain("invalid_request_error");
      expect(error.message).toContain(words);
    });
  }
});

describe("AnthropicStreamTranslator: thinking it will not hold", () => {
  const sse = (data: object): ServerSentEvent => ({ event: "x", data: JSON.stringify(data) });
  const start = sse({
    type: "content_block_start",
    index: 0,
    content_block: { type: "thinking", thinking: "" },
  });
  const feed = (translator: AnthropicStreamTranslator, event: ServerSentEvent): unknown[] => [
    ...translator.translate(event),
  ];
  const piece = (thinking: string) =>
    sse({ type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking } });

  it(`more than ${MAX_THINKING_CHARS} characters of thinking in one answer is malformed, said in words`, () => {
    const translator = new AnthropicStreamTranslator();
    feed(translator, start);
    const chunk = "x".repeat(1 << 16);
    let held = 0;
    const read = (): void => {
      for (;;) {
        feed(translator, piece(chunk));
        held += chunk.length;
      }
    };
    expect(read).toThrow(EventStreamError);
    expect(held).toBe(MAX_THINKING_CHARS);
    expect(read).toThrow(/thinking passed 4194304 characters/);
  });

  it("a thinking or signature delta for a block that is not a thinking block is malformed", () => {
    const translator = new AnthropicStreamTranslator();
    feed(
      translator,
      sse({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    );
    expect(() => [...translator.translate(piece("x"))]).toThrow(
      /thinking_delta arrived for content block 0, which did not start as a thinking block/,
    );
    const redacted = new AnthropicStreamTranslator();
    feed(
      redacted,
      sse({
        type: "content_block_start",
        index: 0,
        content_block: { type: "redacted_thinking", data: "d" },
      }),
    );
    expect(() => [
      ...redacted.translate(
        sse({ type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "s" } }),
      ),
    ]).toThrow(/signature_delta arrived for content block 0/);
  });
});
