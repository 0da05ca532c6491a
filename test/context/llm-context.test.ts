import { describe, expect, it } from "vitest";
import {
  LLMContext,
  TOOL_CALL_CANCELLED_TEXT,
  TOOL_CALL_IN_PROGRESS_TEXT,
  defineTool,
  toOpenAIRequest,
  type LLMMessage,
} from "../../src/context/index.js";
import { LLMContextError } from "../../src/errors.js";

const weather = defineTool({
  name: "get_weather",
  description: "Current weather",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
});

function conversation(): LLMContext {
  return new LLMContext({
    messages: [
      { role: "system", content: "You are a phone agent." },
      { role: "user", content: "What's the weather in Paris?" },
    ],
    tools: [weather],
  });
}

describe("LLMContext messages", () => {
  it("appends, replaces and counts its versions", () => {
    const context = conversation();
    expect(context.version).toBe(0);
    context.addMessage({ role: "assistant", content: "Let me check." });
    context.addMessages([{ role: "user", content: "Thanks" }]);
    expect(context.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(context.version).toBe(2);
    context.setMessages([{ role: "user", content: "Start over" }]);
    expect(context.messages).toEqual([{ role: "user", content: "Start over" }]);
    expect(context.tools).toEqual([weather]);
  });

  it("adds all messages or none, naming the malformed one", () => {
    const context = conversation();
    const bad = [
      { role: "user", content: "ok" },
      { role: "user", content: 7 },
    ] as unknown as LLMMessage[];
    expect(() => context.addMessages(bad)).toThrow(
      new LLMContextError("messages[3].content must be a string or an array of content parts (got 7)"),
    );
    expect(context.messages).toHaveLength(2);
  });

  it("drops fields it does not know, so nothing a provider refuses is sent", () => {
    const context = new LLMContext();
    context.addMessage({ role: "user", content: "hi", extra: 1 } as LLMMessage);
    expect(context.messages).toEqual([{ role: "user", content: "hi" }]);
  });

  it("gives a snapshot that later edits, replacements and tool results never change", () => {
    const context = conversation();
    context.recordToolCalls([{ id: "call_7", name: "get_weather", arguments: { city: "Paris" } }]);
    const sent = context.snapshot();
    const before = JSON.stringify(sent);
    context.recordToolResult("call_7", { temp_c: 18 });
    context.addMessage({ role: "user", content: "and tomorrow?" });
    context.setTools([]);
    context.setMessages([]);
    expect(JSON.stringify(sent)).toBe(before);
    expect(Object.isFrozen(sent.messages)).toBe(true);
    expect(Object.isFrozen(sent.messages[0])).toBe(true);
    expect(sent.tools).toHaveLength(1);
  });

  it("returns the same snapshot until the context changes", () => {
    const context = conversation();
    expect(context.snapshot()).toBe(context.snapshot());
    const first = context.snapshot();
    context.addMessage({ role: "user", content: "x" });
    expect(context.snapshot()).not.toBe(first);
    expect(context.snapshot().version).toBe(first.version + 1);
  });
});

describe("LLMContext interrupted answers", () => {
  it("records only the spoken prefix, marked interrupted, and OpenAI receives the prefix without the mark", () => {
    const context = conversation();
    context.addAssistantText("It is sunny and", { interrupted: true });
    expect(context.messages.at(-1)).toEqual({
      role: "assistant",
      content: "It is sunny and",
      interrupted: true,
    });
    expect(toOpenAIRequest(context.snapshot()).messages.at(-1)).toEqual({
      role: "assistant",
      content: "It is sunny and",
    });
    expect(
      toOpenAIRequest(context.snapshot(), { interruptedNote: " [interrupted]" }).messages.at(-1),
    ).toEqual({
      role: "assistant",
      content: "It is sunny and [interrupted]",
    });
  });

  it("records nothing for an interrupted answer of which nothing was played", () => {
    const context = conversation();
    expect(context.addAssistantText("  ", { interrupted: true })).toBeUndefined();
    expect(context.messages).toHaveLength(2);
  });
});

describe("LLMContext tool calls", () => {
  it("the text played before an answer's calls goes into their message, so their results are not late", () => {
    const context = conversation();
    context.recordToolCalls([{ id: "c1", name: "get_weather", arguments: { city: "Paris" } }]);
    // The answer's own words ("Let me check…") are played, and committed, after the calls were recorded.
    context.addAssistantText("Let me check.");
    expect(context.messages.slice(-2)).toMatchObject([
      { role: "assistant", content: "Let me check.", tool_calls: [{ id: "c1" }] },
      { role: "tool", tool_call_id: "c1", status: "in_progress" },
    ]);
    expect(context.recordToolResult("c1", { sky: "clear" })).toEqual({ accepted: true, late: false });
    // The answer after the result is a message of its own.
    context.addAssistantText("It is clear in Paris.");
    expect(context.messages.at(-1)).toEqual({ role: "assistant", content: "It is clear in Paris." });
    expect(
      context.messages.filter((m) => m.role === "system" && JSON.stringify(m.content).includes("arrived")),
    ).toEqual([]);
  });

  it("an interrupted preamble is marked on the calls' message; text after a result or a user turn is never merged", () => {
    const context = conversation();
    context.recordToolCalls([{ id: "c1", name: "slow_lookup", arguments: {} }]);
    context.addAssistantText("Let me", { interrupted: true });
    expect(context.messages.at(-2)).toMatchObject({
      content: "Let me",
      interrupted: true,
      tool_calls: [{ id: "c1" }],
    });
    context.recordToolCalls([{ id: "c2", name: "slow_lookup", arguments: {} }]);
    context.addMessage({ role: "user", content: "never mind" });
    context.addAssistantText("Sure.");
    expect(context.messages.at(-1)).toEqual({ role: "assistant", content: "Sure." });
    expect(
      context.messages.find((m) => m.role === "assistant" && m.tool_calls?.[0]?.id === "c2"),
    ).toMatchObject({
      content: null,
    });
  });

  it("records calls with in-progress placeholders, then each result in place", () => {
    const context = conversation();
    context.recordToolCalls(
      [
        { id: "call_7", name: "get_weather", arguments: { city: "Paris" } },
        { id: "call_8", name: "get_weather", arguments: '{"city":"Rome"}' },
      ],
      { text: "Checking." },
    );
    expect(context.toolCallStatus("call_7")).toBe("in_progress");
    expect(context.messages.slice(2)).toEqual([
      {
        role: "assistant",
        content: "Checking.",
        tool_calls: [
          {
            id: "call_7",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
          { id: "call_8", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_7", content: TOOL_CALL_IN_PROGRESS_TEXT, status: "in_progress" },
      { role: "tool", tool_call_id: "call_8", content: TOOL_CALL_IN_PROGRESS_TEXT, status: "in_progress" },
    ]);
    expect(context.recordToolResult("call_8", "rainy")).toEqual({ accepted: true, late: false });
    expect(context.recordToolResult("call_7", { temp_c: 18 })).toEqual({ accepted: true, late: false });
    expect(context.messages.slice(3)).toEqual([
      { role: "tool", tool_call_id: "call_7", content: '{"temp_c":18}' },
      { role: "tool", tool_call_id: "call_8", content: "rainy" },
    ]);
    expect(context.toolCallStatus("call_7")).toBe("completed");
  });

  it("accepts a late result in place and appends a note, so the model hears of it", () => {
    const context = conversation();
    context.recordToolCalls([{ id: "call_7", name: "get_weather", arguments: { city: "Paris" } }]);
    context.addMessage({ role: "user", content: "Never mind, tell me a joke." });
    context.addAssistantText("Why did the chicken");
    expect(context.recordToolResult("call_7", { temp_c: 18 })).toEqual({ accepted: true, late: true });
    const messages = context.messages;
    expect(messages[3]).toEqual({ role: "tool", tool_call_id: "call_7", content: '{"temp_c":18}' });
    expect(messages.at(-1)).toEqual({
      role: "system",
      content:
        "The result of the earlier get_weather call (call_7) has arrived; it is now in that call's tool message above.",
    });
  });

  it("refuses a result for an unknown, cancelled or already answered call, and changes nothing", () => {
    const context = conversation();
    context.recordToolCalls([
      { id: "call_7", name: "get_weather", arguments: { city: "Paris" } },
      { id: "call_8", name: "get_weather", arguments: { city: "Rome" } },
    ]);
    expect(context.cancelToolCall("call_8")).toBe(true);
    expect(context.cancelToolCall("call_8")).toBe(false);
    expect(context.recordToolResult("call_7", 1)).toEqual({ accepted: true, late: false });
    const version = context.version;
    expect(context.recordToolResult("call_9", 1)).toEqual({ accepted: false, reason: "unknown" });
    expect(context.recordToolResult("call_8", 1)).toEqual({ accepted: false, reason: "cancelled" });
    expect(context.recordToolResult("call_7", 2)).toEqual({ accepted: false, reason: "completed" });
    expect(context.version).toBe(version);
    expect(context.messages.at(-1)).toEqual({
      role: "tool",
      tool_call_id: "call_8",
      content: TOOL_CALL_CANCELLED_TEXT,
      status: "cancelled",
    });
  });

  it("refuses a reused call id and arguments that are not a JSON object", () => {
    const context = conversation();
    context.recordToolCalls([{ id: "call_7", name: "get_weather", arguments: { city: "Paris" } }]);
    expect(() => context.recordToolCalls([{ id: "call_7", name: "get_weather", arguments: {} }])).toThrow(
      /already in the context/,
    );
    expect(() =>
      context.recordToolCalls([{ id: "call_9", name: "get_weather", arguments: '{"city":' }]),
    ).toThrow(/tool_calls\[0\]\.function\.arguments must be the JSON text of an object/);
    expect(context.messages).toHaveLength(4);
  });
});

describe("LLMContext tools and tool choice", () => {
  it("refuses a tool choice naming a missing tool, and falls back to auto when its tool goes", () => {
    const context = conversation();
    expect(() => context.setToolChoice({ type: "function", name: "nope" })).toThrow(
      'tool choice names "nope", which is not among the tools (get_weather); set the tools first',
    );
    context.setToolChoice({ type: "function", name: "get_weather" });
    expect(context.toolChoice).toEqual({ type: "function", name: "get_weather" });
    context.setTools([]);
    expect(context.toolChoice).toBe("auto");
  });

  it("refuses two tools of one name", () => {
    expect(() => new LLMContext({ tools: [weather, weather] })).toThrow(/two tools share a name/);
  });
});

describe("LLMContext maxMessages", () => {
  it("keeps the system message and at most N more, starting at a user message", () => {
    const context = new LLMContext({ maxMessages: 4, messages: [{ role: "system", content: "S" }] });
    for (let turn = 0; turn < 50; turn++) {
      context.addMessage({ role: "user", content: `q${turn}` });
      context.addAssistantText(`a${turn}`);
      const messages = context.messages;
      expect(messages[0]).toEqual({ role: "system", content: "S" });
      expect(messages.length).toBeLessThanOrEqual(5);
      expect(messages[1]?.role).toBe("user");
    }
    expect(context.messages.map((m) => m.content)).toEqual(["S", "q48", "a48", "q49", "a49"]);
  });

  it("never keeps a tool result without its call", () => {
    const context = new LLMContext({ maxMessages: 3 });
    context.addMessage({ role: "user", content: "q" });
    context.recordToolCalls([
      { id: "a", name: "f", arguments: {} },
      { id: "b", name: "f", arguments: {} },
    ]);
    // 4 messages over a bound of 3, and no user message to start at: the call stays with its results.
    expect(context.messages.map((m) => m.role)).toEqual(["assistant", "tool", "tool"]);
    context.addMessage({ role: "user", content: "q2" });
    expect(context.messages.map((m) => m.role)).toEqual(["user"]);
    expect(context.recordToolResult("a", 1)).toEqual({ accepted: false, reason: "unknown" });
  });

  it("does not keep a system message added later as one of the first ones once what came before it is trimmed", () => {
    // Found by the maxMessages property (seed -372979157): a late result's note, once the messages
    // before it were dropped, sat right after the system message and was kept for ever, outside
    // the bound.
    const context = new LLMContext({ maxMessages: 3, messages: [{ role: "system", content: "S" }] });
    context.recordToolCalls([{ id: "c0", name: "f", arguments: {} }]);
    context.addMessage({ role: "user", content: "q" });
    expect(context.recordToolResult("c0", "r")).toEqual({ accepted: true, late: true });
    context.addAssistantText("a1");
    context.addAssistantText("a2");
    context.recordToolCalls([{ id: "c1", name: "f", arguments: {} }]);
    for (let i = 0; i < 5; i++) context.addMessage({ role: "user", content: `u${i}` });
    expect(context.messages.map((m) => m.content)).toEqual(["S", "u2", "u3", "u4"]);
  });

  it("refuses a bound that is not a whole number of at least 1", () => {
    expect(() => new LLMContext({ maxMessages: 0 })).toThrow(
      /maxMessages must be a whole number of at least 1 \(got 0\)/,
    );
  });
});
