import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  LLMContext,
  defineTool,
  pairToolResults,
  parseLLMMessage,
  toAnthropicRequest,
  toGeminiRequest,
  toOpenAIRequest,
  type LLMMessage,
} from "../../src/context/index.js";

const tool = defineTool({ name: "f", description: "d", parameters: { type: "object", properties: {} } });
const ids = fc.constantFrom("a", "b", "c", "d");
const text = fc.oneof(fc.constantFrom("", " ", "hi ", "ok"), fc.string({ maxLength: 8 }));

const image = fc.constantFrom(
  { type: "image_url" as const, image_url: { url: "data:image/png;base64,AAAA" } },
  { type: "image_url" as const, image_url: { url: "https://example.com/x.jpg" } },
);

/** Anthropic's thinking blocks an assistant message may carry (or none). */
const anthropicThinking = fc.option(
  fc.record({
    thinking: fc.array(
      fc.oneof(
        fc.record({
          type: fc.constant("thinking" as const),
          thinking: fc.string({ maxLength: 6 }),
          signature: fc.string({ maxLength: 6 }),
        }),
        fc.record({ type: fc.constant("redacted_thinking" as const), data: fc.string({ maxLength: 6 }) }),
      ),
      { maxLength: 3 },
    ),
  }),
  { nil: undefined },
);

/** Any message of the common form, in any order: contexts a user could build by hand. */
const message: fc.Arbitrary<LLMMessage> = fc.oneof(
  fc.record({ role: fc.constantFrom("system" as const, "developer" as const), content: text }),
  fc.record({
    role: fc.constant("user" as const),
    content: fc.oneof(
      text,
      fc.array(fc.oneof(fc.record({ type: fc.constant("text" as const), text }), image), { maxLength: 3 }),
    ),
  }),
  fc.record({
    role: fc.constant("assistant" as const),
    content: fc.option(text, { nil: null }),
    tool_calls: fc
      .uniqueArray(ids, { maxLength: 3 })
      .map((list) =>
        list.map((id) => ({ id, type: "function" as const, function: { name: "f", arguments: '{"x":1}' } })),
      ),
    interrupted: fc.boolean(),
    anthropic: anthropicThinking,
  }),
  fc.record({ role: fc.constant("tool" as const), tool_call_id: ids, content: text }),
);
const messages = fc.array(message, { maxLength: 12 });

describe("toAnthropicRequest, for any context", () => {
  it("alternates user and assistant starting with the user, and pairs every tool_use with its tool_result", () => {
    fc.assert(
      fc.property(messages, fc.boolean(), (list, withTools) => {
        const request = toAnthropicRequest({ messages: list, tools: withTools ? [tool] : [] });
        const out = request.messages;
        expect(out.length).toBeGreaterThan(0);
        out.forEach((m, k) => {
          expect(m.role).toBe(k % 2 === 0 ? "user" : "assistant");
          expect(m.content.length).toBeGreaterThan(0);
          for (const block of m.content) if (block.type === "text") expect(block.text).not.toBe("");
          const uses = m.content.flatMap((b) => (b.type === "tool_use" ? [b.id] : []));
          if (uses.length > 0) {
            const next = out[k + 1]!.content.flatMap((b) =>
              b.type === "tool_result" ? [b.tool_use_id] : [],
            );
            expect(next).toEqual(uses);
          }
          const results = m.content.flatMap((b) => (b.type === "tool_result" ? [b.tool_use_id] : []));
          if (results.length > 0) {
            const before = out[k - 1]!.content.flatMap((b) => (b.type === "tool_use" ? [b.id] : []));
            expect(before).toEqual(results);
            expect(m.content.slice(0, results.length).every((b) => b.type === "tool_result")).toBe(true);
          }
          if (!withTools) expect(uses.length + results.length).toBe(0);
        });
        // Thinking: only in a message holding tool_use, at its head, exactly as the message with the calls had it.
        const withCalls = list.filter((m) => m.role === "assistant" && (m.tool_calls?.length ?? 0) > 0);
        const expected = withTools
          ? withCalls.flatMap((m) => (m.role === "assistant" && m.anthropic?.thinking) || [])
          : [];
        const sent = out.flatMap((m) =>
          m.content.filter((b) => b.type === "thinking" || b.type === "redacted_thinking"),
        );
        expect(sent).toEqual(expected);
        for (const m of out) {
          const lead = m.content.findIndex((b) => b.type !== "thinking" && b.type !== "redacted_thinking");
          const thinking = m.content.filter(
            (b) => b.type === "thinking" || b.type === "redacted_thinking",
          ).length;
          if (thinking > 0) {
            expect(m.role).toBe("assistant");
            expect(lead).toBe(thinking);
            expect(m.content.some((b) => b.type === "tool_use")).toBe(true);
          }
        }
        const last = out.at(-1)!;
        const tail = last.content.at(-1);
        if (last.role === "assistant" && tail?.type === "text") expect(tail.text).toBe(tail.text.trimEnd());
      }),
      { numRuns: 500 },
    );
  });
});

describe("toGeminiRequest, for any context", () => {
  it("alternates user and model starting with the user; N function calls are followed by N responses in order", () => {
    fc.assert(
      fc.property(messages, (list) => {
        const { contents } = toGeminiRequest({ messages: list, tools: [tool] });
        expect(contents.length).toBeGreaterThan(0);
        contents.forEach((c, k) => {
          expect(c.role).toBe(k % 2 === 0 ? "user" : "model");
          expect(c.parts.length).toBeGreaterThan(0);
          for (const part of c.parts) if ("text" in part) expect(part.text).not.toBe("");
          const calls = c.parts.flatMap((p) => ("functionCall" in p ? [p.functionCall.name] : []));
          if (calls.length > 0) {
            const next = contents[k + 1]!.parts.slice(0, calls.length);
            expect(
              next.map((p) => ("functionResponse" in p ? p.functionResponse.name : "not a response")),
            ).toEqual(calls);
          }
          const responses = c.parts.filter((p) => "functionResponse" in p).length;
          if (responses > 0) {
            const before = contents[k - 1]!.parts.filter((p) => "functionCall" in p).length;
            expect(responses).toBe(before);
          }
        });
      }),
      { numRuns: 500 },
    );
  });
});

describe("toOpenAIRequest and pairToolResults, for any context", () => {
  it("follows every assistant tool_calls with exactly its tool messages, and pairing twice changes nothing", () => {
    fc.assert(
      fc.property(messages, (list) => {
        const paired = pairToolResults(list);
        expect(pairToolResults(paired)).toBe(paired);
        const out = toOpenAIRequest({ messages: list }).messages;
        let expected: string[] = [];
        for (const m of out) {
          if (m.role === "tool") {
            expect(m.tool_call_id).toBe(expected.shift());
            continue;
          }
          expect(expected).toEqual([]);
          expected = m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : [];
        }
        expect(expected).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});

/** What a session does to its context: the operations the aggregators and the function-call runner use. */
type Op =
  | { kind: "user"; text: string }
  | { kind: "say"; text: string; interrupted: boolean }
  | { kind: "calls"; count: number }
  | { kind: "result"; pick: number }
  | { kind: "cancel"; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("user" as const), text: fc.string({ minLength: 1, maxLength: 6 }) }),
  fc.record({
    kind: fc.constant("say" as const),
    text: fc.string({ maxLength: 6 }),
    interrupted: fc.boolean(),
    anthropic: anthropicThinking,
  }),
  fc.record({ kind: fc.constant("calls" as const), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant("result" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }),
);

function play(ops: readonly Op[], maxMessages?: number, into?: LLMContext): LLMContext {
  const context =
    into ?? new LLMContext({ messages: [{ role: "system", content: "S" }], tools: [tool], maxMessages });
  const made: string[] = [];
  const prefix = into ? "late" : "call";
  for (const o of ops) {
    if (o.kind === "user") context.addMessage({ role: "user", content: o.text });
    else if (o.kind === "say") context.addAssistantText(o.text, { interrupted: o.interrupted });
    else if (o.kind === "calls") {
      const calls = Array.from({ length: o.count }, () => `${prefix}_${made.push("") - 1}`);
      context.recordToolCalls(calls.map((id) => ({ id, name: "f", arguments: {} })));
    } else if (made.length > 0) {
      const id = `${prefix}_${o.pick % made.length}`;
      const before = context.toolCallStatus(id);
      if (o.kind === "cancel") expect(context.cancelToolCall(id)).toBe(before === "in_progress");
      else expect(context.recordToolResult(id, "r").accepted).toBe(before === "in_progress");
    }
  }
  return context;
}

describe("a context built by its operations", () => {
  it("is sent to OpenAI as it is, less voicepipe's own fields (a round trip through parseLLMMessage)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const context = play(ops);
        const sent = toOpenAIRequest(context).messages.map((m, i) => parseLLMMessage(m, `sent[${i}]`));
        const strip = (m: LLMMessage): LLMMessage => {
          if (m.role === "assistant") return parseLLMMessage({ ...m, interrupted: undefined });
          if (m.role === "tool") return parseLLMMessage({ ...m, status: undefined });
          return m;
        };
        expect(sent).toEqual(context.messages.map(strip));
      }),
      { numRuns: 300 },
    );
  });

  it("gives snapshots that no later operation changes", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), fc.array(op, { maxLength: 20 }), (first, then) => {
        const context = play(first, 4);
        const sent = context.snapshot();
        const before = JSON.stringify(sent);
        play(then, undefined, context);
        expect(JSON.stringify(sent)).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it("previewAdd gives exactly the snapshot the same addMessages would, the bound applied, and changes nothing", () => {
    const added = fc.array(
      fc.oneof(
        fc.string({ maxLength: 6 }).map((text): LLMMessage => ({ role: "user", content: text })),
        fc.string({ maxLength: 6 }).map((text): LLMMessage => ({ role: "system", content: text })),
        fc
          .string({ maxLength: 6 })
          .map((text): LLMMessage => ({ role: "user", content: [{ type: "text", text }] })),
      ),
      { minLength: 1, maxLength: 3 },
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
        added,
        (ops, max, more) => {
          const context = play(ops, max);
          const before = context.snapshot();
          const preview = context.previewAdd(more);
          expect(context.snapshot()).toBe(before); // nothing changed
          context.addMessages(more);
          const after = context.snapshot();
          expect(preview.messages).toEqual(after.messages);
          expect(preview.tools).toBe(after.tools);
          expect(preview.toolChoice).toEqual(after.toolChoice);
          expect(preview.version).toBe(after.version);
          // The messages kept are the same frozen objects; only the added ones were parsed anew.
          const kept = after.messages.length - more.length;
          for (let i = 0; i < kept; i++) expect(preview.messages[i]).toBe(after.messages[i]);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("with maxMessages, keeps the system message, stays within the bound and never starts on a tool result", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), (ops, max) => {
        const context = play(ops, max);
        const list = context.messages;
        expect(list[0]).toEqual({ role: "system", content: "S" });
        const rest = list.slice(1);
        if (rest[0]?.role === "tool") throw new Error("the kept messages start on a tool result");
        // Longer than the bound only when one call group alone is: an assistant message and its results.
        if (rest.length > max) expect(rest.slice(1).every((m) => m.role === "tool")).toBe(true);
        expect(pairToolResults(list)).toBe(list);
      }),
      { numRuns: 300 },
    );
  });
});
