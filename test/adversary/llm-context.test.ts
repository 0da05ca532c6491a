/**
 * Adversarial probes of the LLM context (docs/design/llm-context.md) through the public API:
 * `LLMContext`, `defineTool`, `parseToolArguments` and the three adapters. Holes are `it.fails`;
 * `held:` tests are attacks that broke nothing and stay as regression tests.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AnthropicContentBlock,
  type LLMMessage,
  defineTool,
  parseToolArguments,
  toAnthropicRequest,
  toGeminiRequest,
  toOpenAIRequest,
} from "../../src/context/index.js";
import { LLMContext, LLMContextError } from "../../src/index.js";

/** A context with one user message and one call `c1` in progress. */
function withCall(): LLMContext {
  const context = new LLMContext();
  context.addMessage({ role: "user", content: "weather?" });
  context.recordToolCalls([{ id: "c1", name: "get_weather", arguments: { city: "Paris" } }]);
  return context;
}

/** What `act` threw (its class name and message), or "returned". */
function thrown(act: () => unknown): string {
  try {
    act();
    return "returned";
  } catch (error) {
    return `${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
}

const cyclic = (): unknown => {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
};
const deep = (): unknown => {
  let o: unknown = 1;
  for (let i = 0; i < 100_000; i++) o = [o];
  return o;
};

describe("adversary: tool results and arguments that are not JSON", () => {
  // HOLE: `recordToolResult(id, result: JsonValue)` does not check the result, and a function-call
  // handler is user code that may return anything. Values JSON cannot hold are turned into
  // something else without a word, and the model is told a wrong result: NaN and Infinity become
  // "null", a Map or a Set "{}", a class instance its enumerable fields. Measured:
  // `recordToolResult("c1", new Map([["temp", 21]]))` → accepted, content "{}". Root cause:
  // llm-context.ts `recordToolResult` JSON.stringifies the result (tool-call-records.ts
  // `resultText`) without `isJsonValue` (json.ts), which refuses exactly these.
  it("a result JSON cannot hold (NaN, Infinity, a Map, a Set) is refused with an LLMContextError; the call stays in progress", () => {
    for (const result of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      new Map([["temp", 21]]),
      new Set([1]),
      { temp: [Number.NaN] },
    ]) {
      const context = withCall();
      expect(thrown(() => context.recordToolResult("c1", result as never))).toMatch(
        /^LLMContextError: .*result/,
      );
      expect(context.toolCallStatus("c1")).toBe("in_progress");
    }
  });

  // HOLE: the same root cause, with errors that do not say what was wrong. Measured: a BigInt →
  // "TypeError: Do not know how to serialize a BigInt"; a cycle → "TypeError: Converting circular
  // structure to JSON"; 100,000 nested arrays → "RangeError: Maximum call stack size exceeded"; a
  // function, a Symbol or undefined → "LLMContextError: messages[2].content must be a string or an
  // array of text parts (got undefined)", which names a message the caller never made, not the
  // result. The house rule: an error that names the input, what was wrong and what to do.
  it("a result that is a BigInt, a cycle, too deep, a function, a Symbol or undefined gets an LLMContextError naming the call's result", () => {
    for (const result of [10n, cyclic(), deep(), () => 1, Symbol("s"), undefined]) {
      const context = withCall();
      expect(thrown(() => context.recordToolResult("c1", result as never))).toMatch(
        /^LLMContextError: .*c1.*result|result.*c1/,
      );
      expect(context.toolCallStatus("c1")).toBe("in_progress");
    }
  });

  // HOLE: call arguments given as an object are not checked either: a BigInt or a cycle throws
  // the raw TypeError of JSON.stringify, not an LLMContextError naming the argument. Root cause:
  // llm-context.ts `recordToolCalls` stringifies `arguments` before `parseLLMMessage` checks it.
  it("call arguments with a BigInt or a cycle get an LLMContextError naming the call", () => {
    for (const args of [{ n: 10n }, cyclic()]) {
      const context = new LLMContext();
      expect(
        thrown(() => context.recordToolCalls([{ id: "c1", name: "f", arguments: args as never }])),
      ).toMatch(/^LLMContextError: .*arguments/);
      expect(context.messages).toEqual([]);
    }
  });

  it("held: 100,000 nested arrays as argument text are recorded (the text is kept as is) and the adapters do not overflow", () => {
    const context = new LLMContext();
    context.addMessage({ role: "user", content: "x" });
    const text = `{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    context.recordToolCalls([{ id: "c1", name: "f", arguments: text }]);
    context.recordToolResult("c1", "ok");
    const tool = defineTool({ name: "f", description: "d", parameters: { type: "object", properties: {} } });
    const snapshot = { ...context.snapshot(), tools: [tool] };
    for (const adapt of [toOpenAIRequest, toAnthropicRequest, toGeminiRequest])
      expect(thrown(() => adapt(snapshot))).toMatch(/^(returned|LLMContextError)/);
  });
});

describe("adversary: hostile messages and keys", () => {
  it("held: __proto__, constructor and toString as message keys, call ids, argument and result keys pollute nothing and are no special case", () => {
    const context = new LLMContext();
    context.addMessage(JSON.parse('{"role":"user","content":"hi","__proto__":{"polluted":1}}') as LLMMessage);
    context.recordToolCalls([
      { id: "constructor", name: "f", arguments: '{"__proto__":{"polluted":2},"a":1}' },
      { id: "__proto__", name: "f", arguments: {} },
    ]);
    expect(context.toolCallStatus("toString")).toBeUndefined();
    expect(context.recordToolResult("toString", 1)).toEqual({ accepted: false, reason: "unknown" });
    expect(context.toolCallStatus("constructor")).toBe("in_progress");
    expect(
      context.recordToolResult("constructor", JSON.parse('{"__proto__":{"polluted":3}}') as never),
    ).toEqual({
      accepted: true,
      late: false,
    });
    expect(context.recordToolResult("__proto__", "done")).toEqual({ accepted: true, late: false });
    const tool = defineTool({ name: "f", description: "d", parameters: { type: "object", properties: {} } });
    const snapshot = { ...context.snapshot(), tools: [tool] };
    const bodies = [toOpenAIRequest(snapshot), toAnthropicRequest(snapshot), toGeminiRequest(snapshot)];
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(bodies[1])).toContain('"__proto__":{"polluted":2}'); // the model's own key, kept as data
    const parsed = parseToolArguments(
      defineTool({
        name: "g",
        description: "d",
        parameters: { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
      }),
      '{"__proto__":{"a":"x"}}',
    );
    expect(parsed.ok).toBe(false); // "a" inherited through __proto__ does not count as given
  });

  it("held: anything at all given as messages is accepted or refused with an LLMContextError, all or none", () => {
    fc.assert(
      fc.property(
        fc.array(fc.anything({ withBigInt: true, withMap: true, withSet: true, withNullPrototype: true })),
        (list) => {
          const context = new LLMContext({ messages: [{ role: "user", content: "kept" }] });
          const result = thrown(() => context.setMessages(list as never));
          if (result !== "returned") {
            expect(result).toMatch(/^LLMContextError/);
            expect(context.messages).toEqual([{ role: "user", content: "kept" }]);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("held: snapshots are frozen all the way down, and what the caller passed in can be changed afterwards without effect", () => {
    const context = new LLMContext();
    const input = { role: "user" as const, content: [{ type: "text" as const, text: "hi" }] };
    context.addMessage(input);
    context.recordToolCalls([{ id: "c1", name: "f", arguments: { a: 1 } }]);
    input.content[0]!.text = "CHANGED";
    input.content.push({ type: "text", text: "more" });
    const snapshot = context.snapshot() as unknown as {
      messages: Array<{
        content: Array<{ text: string }>;
        tool_calls: Array<{ function: { arguments: string } }>;
      }>;
    };
    expect(() => snapshot.messages.push(snapshot.messages[0]!)).toThrow(TypeError);
    expect(() => (snapshot.messages[0]!.content[0]!.text = "X")).toThrow(TypeError);
    expect(() => (snapshot.messages[1]!.tool_calls[0]!.function.arguments = "X")).toThrow(TypeError);
    expect(context.messages[0]).toEqual({ role: "user", content: [{ type: "text", text: "hi" }] });
    const before = JSON.stringify(context.snapshot());
    context.recordToolResult("c1", "r");
    expect(JSON.stringify(snapshot)).toBe(before);
  });

  it("held: out-of-order tool results: before the call, twice, after cancel, after the bound dropped the call", () => {
    const context = new LLMContext({ maxMessages: 2 });
    expect(context.recordToolResult("c1", 1)).toEqual({ accepted: false, reason: "unknown" });
    expect(context.messages).toEqual([]);
    context.addMessage({ role: "user", content: "q" });
    context.recordToolCalls([
      { id: "c1", name: "f", arguments: {} },
      { id: "c2", name: "f", arguments: {} },
    ]);
    expect(context.cancelToolCall("c1")).toBe(true);
    expect(context.recordToolResult("c1", 1)).toEqual({ accepted: false, reason: "cancelled" });
    expect(context.recordToolResult("c2", 2)).toMatchObject({ accepted: true });
    expect(context.recordToolResult("c2", 3)).toEqual({ accepted: false, reason: "completed" });
    expect(context.cancelToolCall("c2")).toBe(false);
    expect(() => context.recordToolCalls([{ id: "c2", name: "f", arguments: {} }])).toThrow(LLMContextError);
    expect(() =>
      context.recordToolCalls([
        { id: "d", name: "f", arguments: {} },
        { id: "d", name: "f", arguments: {} },
      ]),
    ).toThrow(LLMContextError);
    context.recordToolCalls([{ id: "c3", name: "f", arguments: {} }]);
    for (const text of ["a", "b", "c", "d"]) context.addMessage({ role: "user", content: text });
    expect(context.toolCallStatus("c3")).toBeUndefined(); // dropped by the bound
    expect(context.recordToolResult("c3", 1)).toEqual({ accepted: false, reason: "unknown" });
    expect(context.messages[0]!.role).not.toBe("tool");
  });
});

describe("adversary: schemas", () => {
  // HOLE (small): a schema with a cycle (built in code, e.g. a recursive type) throws
  // "RangeError: Maximum call stack size exceeded" from defineTool, not an LLMContextError saying
  // the schema must be a tree (providers take no $ref here). Root cause: json-schema.ts checks the
  // schema recursively with no depth bound or visited set (isJsonValue in json.ts has both).
  it("a schema with a cycle is refused with an LLMContextError naming the tool", () => {
    const parameters = { type: "object", properties: {} as Record<string, unknown> };
    parameters.properties.self = parameters;
    expect(
      thrown(() => defineTool({ name: "f", description: "d", parameters: parameters as never })),
    ).toMatch(/^LLMContextError: .*"f"/);
  });
});

/**
 * The text blocks of an Anthropic message (a tool result's string content is left out: whether
 * Anthropic refuses a whitespace-only one was not checked).
 */
function textsOf(blocks: readonly AnthropicContentBlock[]): string[] {
  return blocks.flatMap((block) => (block.type === "text" ? [block.text] : []));
}

describe("adversary: adapters obey their provider's rules for contexts built through the operations", () => {
  // HOLE: Anthropic refuses a text block that is only whitespace (400 "messages: text content
  // blocks must contain non-whitespace text"; only empty blocks and the final assistant text's
  // trailing whitespace are handled). A voice context gets such text easily: an STT transcript of
  // " ", an interrupted answer whose spoken prefix is " ".
  // Measured: messages [user "   ", assistant "ok", user "\n"] → text blocks "   " and "\n" sent.
  // Root cause: adapters/anthropic.ts drops only `text === ""` blocks (and trims the last
  // assistant text); a whitespace-only block needs the same treatment (dropped, or for a tool
  // result, replaced by a short note).
  it("toAnthropicRequest never sends a whitespace-only text block", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("user" as const), text: fc.constantFrom("hi", " ", "\n", "\t ") }),
      fc.record({
        kind: fc.constant("say" as const),
        text: fc.constantFrom("ok", " ", " \n"),
        interrupted: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("call" as const) }),
      fc.record({ kind: fc.constant("result" as const), value: fc.constantFrom("done", "", " ", "\n") }),
    );
    const tool = defineTool({ name: "f", description: "d", parameters: { type: "object", properties: {} } });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 10 }), (ops) => {
        const context = new LLMContext({ tools: [tool] });
        let n = 0;
        for (const o of ops) {
          if (o.kind === "user") context.addMessage({ role: "user", content: o.text });
          else if (o.kind === "say") context.addAssistantText(o.text, { interrupted: o.interrupted });
          else if (o.kind === "call") context.recordToolCalls([{ id: `c${++n}`, name: "f", arguments: {} }]);
          else if (n > 0) context.recordToolResult(`c${n}`, o.value);
        }
        const request = toAnthropicRequest(context.snapshot());
        for (const message of request.messages)
          for (const text of textsOf(message.content))
            expect(text.trim(), JSON.stringify(message)).not.toBe("");
      }),
      { numRuns: 500 },
    );
  });
});
