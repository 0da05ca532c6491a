/**
 * Messages and tool arguments from outside the process (a saved conversation, a client's
 * `append-to-context`, a model's arguments) with every field replaced by each hostile value
 * (test/support/hostile-json.ts): the context takes a message or refuses it with an
 * LLMContextError that names the field in words; what it takes converts to every provider's
 * request and to JSON; tool arguments are checked, never thrown on.
 */
import { describe, expect, it } from "vitest";
import {
  LLMContext,
  defineTool,
  parseToolArguments,
  toAnthropicRequest,
  toGeminiRequest,
  toOpenAIRequest,
  type LLMMessage,
} from "../../src/context/index.js";
import type { JsonObject } from "../../src/context/json.js";
import { LLMContextError } from "../../src/errors.js";
import { hostileVariants } from "../support/hostile-json.js";

const MESSAGES: readonly object[] = [
  { role: "system", content: "Be brief." },
  { role: "developer", content: [{ type: "text", text: "Be kind." }] },
  { role: "user", content: "hello" },
  {
    role: "user",
    content: [
      { type: "text", text: "look" },
      { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } },
      { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
    ],
  },
  {
    role: "assistant",
    content: "Let me check.",
    tool_calls: [
      {
        id: "call_1",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        gemini: { thoughtSignature: "c2ln" },
      },
    ],
    interrupted: true,
  },
  { role: "tool", tool_call_id: "call_1", content: "sunny", status: "completed" },
];

const weather = defineTool({
  name: "get_weather",
  description: "Current weather",
  parameters: {
    type: "object",
    properties: { city: { type: "string" }, days: { type: "integer", minimum: 1, maximum: 7 } },
    required: ["city"],
  },
});

const garbled =
  /Cannot convert|call stack|is not (a function|iterable)|\[object Object\]|Cannot read prop|\ba object\b/;

describe("the LLM context with hostile values", () => {
  it("takes or refuses in words every message whose fields are hostile; what it takes converts", () => {
    let taken = 0;
    let refused = 0;
    for (const message of MESSAGES) {
      for (const variant of hostileVariants(message)) {
        const raw = JSON.parse(variant.text) as LLMMessage;
        const context = new LLMContext({
          messages: [
            { role: "user", content: "hi" },
            ...(raw.role === "tool" ? [MESSAGES[4] as LLMMessage] : []),
          ],
        });
        let error: unknown;
        try {
          context.addMessage(raw);
        } catch (e) {
          error = e;
        }
        if (error !== undefined) {
          refused++;
          expect(error, variant.what).toBeInstanceOf(LLMContextError);
          expect((error as Error).message, variant.what).not.toMatch(garbled);
          continue;
        }
        taken++;
        for (const convert of [toOpenAIRequest, toAnthropicRequest, toGeminiRequest]) {
          let request: unknown;
          try {
            request = convert(context);
          } catch (e) {
            expect(e, `${convert.name} ${variant.what}`).toBeInstanceOf(LLMContextError);
            continue;
          }
          expect(() => JSON.stringify(request), `${convert.name} ${variant.what}`).not.toThrow();
        }
      }
    }
    expect(taken).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(300);
  });

  it("checks every hostile argument object against the tool's schema, never throwing", () => {
    for (const variant of hostileVariants({ city: "Paris", days: 3 })) {
      const args = JSON.parse(variant.text) as JsonObject;
      for (const given of [args, variant.text]) {
        const parsed = parseToolArguments(weather, given);
        if (!parsed.ok) expect(parsed.error, variant.what).not.toMatch(garbled);
      }
    }
  });
});
