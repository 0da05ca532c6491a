import { afterEach, describe, expect, it } from "vitest";
import {
  LLMContextFrame,
  MetricsFrame,
  Pipeline,
  PipelineTask,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { LLMContext } from "../../src/context/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { describeFrame } from "../../src/processors/rtvi/server-messages.js";
import { type LoopbackOpenAI, answer, loopbackOpenAI } from "../services/llm/loopback-openai.js";

let srv: LoopbackOpenAI | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

describe("RTVI metrics from a real LLM service", () => {
  it("ttfb and processing arrive in seconds, and llm_usage as a tokens entry with the client's snake_case counts", async () => {
    srv = await loopbackOpenAI((sse) => answer(sse, ["Hi."], [61, 15]));
    const llm = new OpenAILLMService({
      apiKey: "k",
      baseURL: srv.baseURL,
      env: {},
      model: "gpt-test",
      name: "llm",
    });
    const down = new FrameRecorder();
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([llm, down]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    task.queueFrame(new LLMContextFrame(new LLMContext({ messages: [{ role: "user", content: "Hi" }] })));
    void task.stopWhenDone();
    await clock.runUntil(done);
    const messages: Array<Record<string, Array<Record<string, unknown>>>> = [];
    for (const frame of down.ofType(MetricsFrame)) {
      describeFrame(frame, { clientMajor: () => 2, isoTime: () => "" }, (type, data) => {
        expect(type).toBe("metrics");
        messages.push(data as Record<string, Array<Record<string, unknown>>>);
      });
    }
    const merged = Object.assign({}, ...messages) as Record<string, Array<Record<string, unknown>>>;
    expect(Object.keys(merged).sort()).toEqual(["processing", "tokens", "ttfb"]);
    for (const key of ["ttfb", "processing"]) {
      const [entry] = merged[key]!;
      expect(entry).toMatchObject({ processor: "llm", model: "gpt-test" });
      expect(typeof entry!["value"]).toBe("number");
      expect(entry!["value"] as number).toBeLessThan(60); // seconds, not ms
    }
    expect(merged["tokens"]).toEqual([
      {
        processor: "llm",
        model: "gpt-test",
        prompt_tokens: 61,
        completion_tokens: 15,
        total_tokens: 76,
        cache_read_input_tokens: 0,
        reasoning_tokens: 0,
      },
    ]);
  });
});
