/**
 * OpenAI chat-completions streams (through the official SDK, from a loopback server) whose chunks
 * have one field at a time replaced by a hostile value (test/support/hostile-json.ts): the
 * service never throws, every started response ends, and what it passes on is well typed.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  VirtualClock,
} from "../../../src/index.js";
import type { LLMServiceError } from "../../../src/services/llm/index.js";
import { OpenAILLMService } from "../../../src/services/llm/openai/index.js";
import { expectHostileStreamsSurvived, hostileBodies, variantOf, weatherTool } from "../http/hostile-llm.js";
import { runLLM, userContext } from "../http/run-llm.js";
import {
  type LoopbackOpenAI,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  toolCallChunk,
  usageChunk,
} from "./loopback-openai.js";

let srv: LoopbackOpenAI | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

const data = (text: string): string => `data: ${text}\n\n`;

describe("OpenAILLMService reads hostile chunks without throwing", () => {
  it("every field of every chunk, replaced by each hostile value", async () => {
    const { bodies } = hostileBodies(
      [
        roleChunk(),
        textChunk("Hello"),
        toolCallChunk({ index: 0, id: "call_1", name: "get_weather", arguments: '{"city":' }),
        toolCallChunk({ index: 0, arguments: '"Paris"}' }),
        finishChunk("tool_calls"),
        usageChunk(10, 5),
      ].map((json, i) => ({
        json,
        write: data,
        // The chunk's id, object, created and model are never read: varied in the first chunk only.
        skip: (path) =>
          i > 0 && path.length === 1 && ["id", "object", "created", "model"].includes(String(path[0])),
      })),
      data("[DONE]"),
    );
    srv = await loopbackOpenAI((sse) => {
      sse.raw(bodies[variantOf(sse.request.body)]!);
      sse.end();
    });
    const llm = new OpenAILLMService({ apiKey: "sk-test", baseURL: srv.baseURL, env: {}, model: "gpt-test" });
    await expectHostileStreamsSurvived(llm, bodies.length, "Hello");
  });

  it("a tool call whose index is an object is refused in words, not with a TypeError", async () => {
    const chunk = toolCallChunk({ index: 0, id: "call_1", name: "get_weather", arguments: "{}" });
    const text = JSON.stringify(chunk).replace('"index":0,"id"', '"index":{"toString":""},"id"');
    srv = await loopbackOpenAI((sse) => {
      sse.raw(
        data(JSON.stringify(roleChunk())) + data(text) + data(JSON.stringify(finishChunk("tool_calls"))),
      );
      sse.done();
    });
    const llm = new OpenAILLMService({ apiKey: "sk-test", baseURL: srv.baseURL, env: {}, model: "gpt-test" });
    const failures: LLMServiceError[] = [];
    llm.on("completionFailed", (e) => void failures.push(e));
    const t = runLLM(llm);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(failures.map((f) => [f.failure, f.message])).toEqual([
      [
        "malformed",
        expect.stringContaining("a tool call fragment has index an object; it must be a whole number"),
      ],
    ]);
  });

  for (const [what, args] of [
    ["nested 100 levels deep", `{"city":"Paris","x":${"[".repeat(100)}${"]".repeat(100)}}`],
    ["holding 200,000 values", `{"city":"Paris","x":[${new Array(200_000).fill("0").join(",")}]}`],
  ] as const) {
    it(`function-call arguments ${what} are refused as arguments, and the response ends`, async () => {
      srv = await loopbackOpenAI((sse) => {
        sse.raw(
          [roleChunk(), toolCallChunk({ index: 0, id: "call_1", name: "get_weather", arguments: args })]
            .concat([finishChunk("tool_calls")])
            .map((c) => data(JSON.stringify(c)))
            .join(""),
        );
        sse.done();
      });
      const llm = new OpenAILLMService({
        apiKey: "sk-test",
        baseURL: srv.baseURL,
        env: {},
        model: "gpt-test",
      });
      const results: unknown[] = [];
      llm.registerFunction(weatherTool, async (a) => {
        results.push(a);
        return "sunny";
      });
      const clock = new VirtualClock();
      const t = runLLM(llm, clock);
      t.task.queueFrame(new LLMContextFrame(userContext()));
      await clock.runUntil(() => t.down.ofType(LLMFullResponseEndFrame).length === 1 || t.errors.length > 0);
      await clock.settle();
      expect(t.errors.map((e) => e.error.message)).toEqual([]);
      // The call is made with {} (the handler is not run: its schema needs a city), and the model told why.
      expect(t.down.ofType(FunctionCallsStartedFrame)[0]!.calls[0]!.arguments).toEqual({});
      expect(results).toEqual([]);
      await clock.runUntil(() => t.down.ofType(FunctionCallResultFrame).length === 1);
      expect(JSON.stringify(t.down.ofType(FunctionCallResultFrame)[0]!.result)).toContain(
        "nested deeper than 64 levels, holding more than 100000 values",
      );
      await t.finish();
    });
  }
});
