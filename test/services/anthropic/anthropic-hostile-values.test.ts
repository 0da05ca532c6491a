/**
 * Anthropic Messages streams (from a loopback server) whose events have one field at a time
 * replaced by a hostile value (test/support/hostile-json.ts): the service never throws, every
 * started response ends, and what it passes on is well typed.
 */
import { afterEach, describe, it } from "vitest";
import { AnthropicLLMService } from "../../../src/services/anthropic/index.js";
import { expectHostileStreamsSurvived, hostileBodies, variantOf } from "../http/hostile-llm.js";
import { type LoopbackSse, loopbackSse } from "../http/loopback-sse.js";

let srv: LoopbackSse | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

const EVENTS: readonly Record<string, unknown>[] = [
  {
    type: "message_start",
    message: {
      id: "msg_01",
      type: "message",
      role: "assistant",
      content: [],
      model: "claude-test",
      stop_reason: null,
      usage: {
        input_tokens: 25,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    },
  },
  // Extended thinking: a thinking block in pieces, then a redacted one.
  { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Paris." } },
  { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "c2ln" } },
  { type: "content_block_stop", index: 0 },
  { type: "content_block_start", index: 1, content_block: { type: "redacted_thinking", data: "ZW5j" } },
  { type: "content_block_stop", index: 1 },
  { type: "content_block_start", index: 2, content_block: { type: "text", text: "" } },
  { type: "ping" },
  { type: "content_block_delta", index: 2, delta: { type: "text_delta", text: "Hello" } },
  { type: "content_block_stop", index: 2 },
  {
    type: "content_block_start",
    index: 3,
    content_block: { type: "tool_use", id: "toolu_1", name: "get_weather", input: {} },
  },
  {
    type: "content_block_delta",
    index: 3,
    delta: { type: "input_json_delta", partial_json: '{"city":"Paris"}' },
  },
  { type: "content_block_stop", index: 3 },
  {
    type: "message_delta",
    delta: { stop_reason: "tool_use", stop_sequence: null },
    usage: { output_tokens: 15 },
  },
  { type: "message_stop" },
];

/** A second answer, the error event Anthropic sends mid-stream. */
const ERROR_EVENT = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };

describe("AnthropicLLMService reads hostile events without throwing", () => {
  it("every field of every event, replaced by each hostile value", async () => {
    const sse = (json: Record<string, unknown>) => ({
      json,
      write: (text: string) => `event: ${String(json["type"])}\ndata: ${text}\n\n`,
    });
    const { bodies } = hostileBodies([...EVENTS.map(sse)]);
    const errors = hostileBodies([sse(EVENTS[0]!), sse(ERROR_EVENT)]).bodies.slice(1);
    const all = [...bodies, ...errors];
    srv = await loopbackSse(
      (url) => url === "/v1/messages",
      (writer) => {
        writer.raw(all[variantOf(writer.request.body)]!);
        writer.end();
      },
    );
    const llm = new AnthropicLLMService({
      apiKey: "sk-ant-test",
      baseUrl: srv.baseUrl,
      env: {},
      model: "claude-test",
    });
    await expectHostileStreamsSurvived(llm, all.length, "Hello");
  });
});
