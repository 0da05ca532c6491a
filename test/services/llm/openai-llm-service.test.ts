import { describe, expect, it } from "vitest";
import {
  type Clock,
  FunctionCallsStartedFrame,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMMessagesAppendFrame,
  LLMRunFrame,
  MetricsFrame,
  SystemClock,
  VirtualClock,
} from "../../../src/index.js";
import { LLMContext, defineTool } from "../../../src/context/index.js";
import { LLMServiceError } from "../../../src/services/llm/index.js";
import { OpenAILLMService, type OpenAILLMServiceOptions } from "../../../src/services/llm/openai/index.js";
import { loadOpenAI } from "../../../src/services/llm/openai/load-openai.js";
import {
  type LoopbackOpenAI,
  answer,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  toolCallChunk,
  until,
  usageChunk,
} from "./loopback-openai.js";
import { count, expectCutShortSaidOnce, runLLM, userContext } from "../http/run-llm.js";
import { closedAfterEach } from "../../support/servers.js";

const server = closedAfterEach(loopbackOpenAI);

/** A task around the service, with recorders at both ends, on `clock`. */
function run(srv: LoopbackOpenAI, options: OpenAILLMServiceOptions = {}, clock: Clock = new VirtualClock()) {
  const llm = new OpenAILLMService({
    apiKey: "sk-test",
    baseURL: srv.baseURL,
    env: {},
    model: "gpt-test",
    ...options,
  });
  return runLLM(llm, clock);
}

describe("OpenAILLMService against a loopback chat-completions server", () => {
  it("an answer cut at the token limit (finish_reason length) is spoken as far as it went, and said once, then counted", async () => {
    const srv = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("The weather is"));
      sse.send(finishChunk("length"));
      sse.send(usageChunk(10, 3));
      sse.done();
    });
    await expectCutShortSaidOnce(
      new OpenAILLMService({ apiKey: "sk-test", baseURL: srv.baseURL, env: {}, model: "gpt-test" }),
      "The weather is",
    );
  });

  it("streams an answer: start, one text frame per token, end, then ttfb, processing and usage metrics", async () => {
    const srv = await server((sse) => answer(sse, ["The ", "weather ", "is fine."], [61, 15]));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.kinds()).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMTextFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);
    expect(t.textsAfter().join("")).toBe("The weather is fine.");
    const metrics = t.down.ofType(MetricsFrame).flatMap((m) => m.data);
    expect(metrics.map((m) => m.kind)).toEqual(["ttfb", "processing", "llm_usage"]);
    expect(metrics.every((m) => m.model === "gpt-test" && m.processor === t.llm.name)).toBe(true);
    expect(metrics[2]!.value).toMatchObject({ promptTokens: 61, completionTokens: 15, totalTokens: 76 });
    // The request, as documented.
    const req = srv.requests[0]!;
    expect(req.headers.authorization).toBe("Bearer sk-test");
    expect(req.body).toMatchObject({
      model: "gpt-test",
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What's the weather in Paris?" },
      ],
    });
    expect(t.errors).toEqual([]);
  });

  it("puts two parallel tool calls streamed in interleaved pieces back together, records them and broadcasts FunctionCallsStartedFrame", async () => {
    const srv = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Checking."));
      sse.send(toolCallChunk({ index: 0, id: "call_a", name: "get_weather", arguments: "" }));
      sse.send(toolCallChunk({ index: 1, id: "call_b", name: "get_time", arguments: '{"zo' }));
      sse.send(toolCallChunk({ index: 0, arguments: '{"city":"Par' }));
      sse.send(toolCallChunk({ index: 1, arguments: 'ne":"CET"}' }));
      sse.send(toolCallChunk({ index: 0, arguments: 'is"}' }));
      sse.send(finishChunk("tool_calls"));
      sse.send(usageChunk(80, 30));
      sse.done();
    });
    const weather = defineTool({
      name: "get_weather",
      description: "Current weather",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    });
    const time = defineTool({
      name: "get_time",
      description: "Current time",
      parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] },
    });
    const context = userContext();
    context.setTools([weather, time]);
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    // No handler is registered: the function-call runner answers each call as unknown.
    expect(t.kinds()).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "FunctionCallsStartedFrame",
      "FunctionCallInProgressFrame",
      "FunctionCallInProgressFrame",
      "LLMFullResponseEndFrame",
      "FunctionCallResultFrame",
      "FunctionCallResultFrame",
    ]);
    const [down] = t.down.ofType(FunctionCallsStartedFrame);
    const [up] = t.up.ofType(FunctionCallsStartedFrame);
    expect(up).toBeDefined();
    expect(down!.calls).toEqual([
      { functionName: "get_weather", toolCallId: "call_a", arguments: { city: "Paris" } },
      { functionName: "get_time", toolCallId: "call_b", arguments: { zone: "CET" } },
    ]);
    expect(context.toolCallStatus("call_a")).toBe("in_progress");
    expect(context.toolCallStatus("call_b")).toBe("in_progress");
    expect(srv.requests[0]!.body).toMatchObject({ tool_choice: "auto" });
    expect((srv.requests[0]!.body["tools"] as unknown[]).length).toBe(2);
  });

  it("on interruption mid-stream closes the request at once (the server sees it) and pushes nothing of it afterwards", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const srv = await server(async (sse, n) => {
      if (n === 2) return answer(sse, ["Next answer."]);
      sse.send(roleChunk());
      sse.send(textChunk("One, "));
      sse.send(textChunk("two, "));
      await held;
      sse.send(textChunk("three."));
      sse.send(finishChunk("stop"));
      sse.done();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.textsAfter().length === 2, 5_000, "two text frames");
    const mark = t.down.frames.length;
    t.task.queueFrame(new InterruptionFrame());
    await until(() => srv.requests[0]!.closed, 5_000, "the server to see the connection closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    release();
    const after = t.down.frames.slice(mark).map((f) => f.constructor.name);
    expect(after).toEqual(["InterruptionFrame"]);
    // The next context is answered as usual.
    t.task.queueFrame(new LLMContextFrame(userContext("And now?")));
    await t.finish();
    expect(t.textsAfter(mark)).toEqual(["Next answer."]);
    expect(t.errors).toEqual([]);
  });

  it("a newer context stops the answer in progress: its request is closed, its response ended, the new one answered", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const srv = await server(async (sse, n) => {
      if (n === 2) return answer(sse, ["Second."]);
      sse.send(roleChunk());
      sse.send(textChunk("First, "));
      await held;
      sse.done();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.textsAfter().length === 1, 5_000, "the first text");
    t.task.queueFrame(new LLMContextFrame(userContext("Something else")));
    await until(
      () => srv.requests[0]!.closed && count(t.down, LLMFullResponseEndFrame) === 2,
      5_000,
      "both answers",
    );
    release();
    await t.finish();
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.kinds()).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);
    expect(t.textsAfter()).toEqual(["First, ", "Second."]);
  });

  it("abandons a stream that stalls before its first token and answers from the one retry", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["Retried."]);
      sse.send(roleChunk()); // then nothing
    });
    const t = run(srv, { stallTimeoutMs: 150 }, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 5_000, "the answer");
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.textsAfter()).toEqual(["Retried."]);
    expect(t.errors).toEqual([]);
  });

  it("reports a stream that stalls twice once, pushes nothing downstream, and closes both requests", async () => {
    const srv = await server((sse) => sse.open());
    const t = run(srv, { stallTimeoutMs: 100 }, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.errors.length === 1, 5_000, "the error");
    await t.finish();
    expect(srv.requests.length).toBe(2);
    await until(() => srv.requests.every((r) => r.closed), 5_000, "both requests closed");
    expect(srv.requests.every((r) => r.abortedByClient)).toBe(true);
    expect(t.kinds()).toEqual([]);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("stalled");
    expect(error.message).toContain("stallTimeoutMs");
    expect(t.errors[0]!.fatal).toBe(false);
  });

  it("a stall after text went out ends the answer there and is reported, without a retry that would repeat it", async () => {
    const srv = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Half an"));
    });
    const t = run(srv, { stallTimeoutMs: 100 }, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.errors.length === 1, 5_000, "the error");
    await t.finish();
    expect(srv.requests.length).toBe(1);
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
  });

  it("a 401 is one clear, non-fatal error naming OPENAI_API_KEY; later requests are refused without reaching the server", async () => {
    const srv = await server((sse) => sse.error(401, "Incorrect API key provided: sk-test."));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMContextFrame(userContext("again")));
    t.task.queueFrame(new LLMRunFrame());
    await t.finish();
    expect(srv.requests.length).toBe(1);
    expect(t.errors.length).toBe(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error).toBeInstanceOf(LLMServiceError);
    expect(error.failure).toBe("auth");
    expect(error.message).toContain("OPENAI_API_KEY");
    expect(error.message).toContain("Incorrect API key provided");
    expect(error.message).not.toMatch(/\n\s+at /);
    expect(t.errors[0]!.fatal).toBe(false);
    expect(t.llm.usable).toBe(false);
    expect(t.kinds()).toEqual([]);
  });

  it("a missing key is one clear error at start naming OPENAI_API_KEY, and nothing is sent", async () => {
    const srv = await server((sse) => answer(sse, ["never"]));
    const t = run(srv, { apiKey: undefined });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(0);
    expect(t.errors.length).toBe(1);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("missing-key");
    expect(t.errors[0]!.error.message).toContain("OPENAI_API_KEY is not set");
  });

  it("reads the key and the endpoint from OPENAI_API_KEY and OPENAI_BASE_URL", async () => {
    const srv = await server((sse) => answer(sse, ["Hi."]));
    const t = run(srv, {
      apiKey: undefined,
      baseURL: undefined,
      env: { OPENAI_API_KEY: "sk-env", OPENAI_BASE_URL: srv.baseURL },
    });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests[0]!.headers.authorization).toBe("Bearer sk-env");
    expect(t.textsAfter()).toEqual(["Hi."]);
  });

  it("a base URL that is not http(s) is refused when the service is made, naming where it came from", () => {
    expect(
      () => new OpenAILLMService({ env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: "localhost:11434/v1" } }),
    ).toThrow(
      'OPENAI_BASE_URL must be an http:// or https:// URL such as https://api.openai.com/v1 (got "localhost:11434/v1")',
    );
    expect(() => new OpenAILLMService({ env: {}, baseURL: "ws://127.0.0.1/v1" })).toThrow(
      'baseURL must be an http:// or https:// URL such as https://api.openai.com/v1 (got "ws://127.0.0.1/v1")',
    );
    expect(new OpenAILLMService({ env: { OPENAI_BASE_URL: "http://127.0.0.1:11434/v1/" } }).baseURL).toBe(
      "http://127.0.0.1:11434/v1",
    );
    expect(new OpenAILLMService({ env: {} }).baseURL).toBe("https://api.openai.com/v1");
  });

  it("an endpoint nobody listens on is a connection error naming the cause and OPENAI_BASE_URL, retried once", async () => {
    const gone = await loopbackOpenAI(() => {});
    await gone.close();
    const t = run(gone, { retryBackoffMs: 10 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.errors).toHaveLength(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("connection");
    expect(error.message).toContain(gone.baseURL);
    expect(error.message).toContain("ECONNREFUSED");
    expect(error.message).toContain("OPENAI_BASE_URL");
    expect(t.kinds()).toEqual([]);
  });

  it("sends its requests with the fetch it is given", async () => {
    const srv = await server((sse) => answer(sse, ["Hi."]));
    const seen: string[] = [];
    const t = run(srv, {
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(seen).toEqual([`${srv.baseURL}/chat/completions`]);
    expect(t.textsAfter()).toEqual(["Hi."]);
  });

  it("retries a 500 once after the backoff (on the task clock) and answers", async () => {
    const srv = await server((sse, n) =>
      n === 1 ? sse.error(500, "The server had an error.") : answer(sse, ["Fine."]),
    );
    const t = run(srv, { retryBackoffMs: 700 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.textsAfter()).toEqual(["Fine."]);
    expect(t.errors).toEqual([]);
    expect(t.clock.now()).toBeGreaterThanOrEqual(700);
  });

  it("reports a 429 that repeats once, as rate-limited, after one retry", async () => {
    const srv = await server((sse) => sse.error(429, "Rate limit reached.", { "retry-after": "1" }));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("rate-limited");
    expect(t.clock.now()).toBeGreaterThanOrEqual(1000); // waited what retry-after asked
  });

  it("a malformed chunk mid-answer ends the answer cleanly and is said once; repeats are counted", async () => {
    const srv = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Hel"));
      sse.raw("data: {not json\n\n");
      sse.send(textChunk("lo"));
      sse.send(finishChunk("stop"));
      sse.done();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMContextFrame(userContext("again")));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.kinds()).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);
    expect(t.errors.length).toBe(1);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("malformed");
  });

  it("a malformed chunk before any token is retried once", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["Good."]);
      sse.raw("data: {oops\n\n");
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.textsAfter()).toEqual(["Good."]);
  });

  it("a server that closes mid-stream without finishing is reported; the answer so far is closed", async () => {
    const srv = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Cut"));
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("connection");
  });

  it("runs LLMMessagesAppendFrame with runLlm on its own context", async () => {
    const srv = await server((sse) => answer(sse, ["Hello."]));
    const t = run(srv, { context: new LLMContext({ messages: [{ role: "system", content: "S" }] }) });
    t.task.queueFrame(new LLMMessagesAppendFrame([{ role: "user", content: "Hi" }], true));
    await t.finish();
    expect(srv.requests[0]!.body["messages"]).toEqual([
      { role: "system", content: "S" },
      { role: "user", content: "Hi" },
    ]);
    expect(t.textsAfter()).toEqual(["Hello."]);
  });
});

describe("OpenAILLMService: cancel at every point leaves nothing running", () => {
  type Point = "before headers" | "before the first chunk" | "mid-stream" | "during the retry backoff";
  const points: Point[] = [
    "before headers",
    "before the first chunk",
    "mid-stream",
    "during the retry backoff",
  ];

  for (const point of points) {
    it(`cancel ${point}: the request is closed, no timer is pending, nothing more is pushed`, async () => {
      const srv = await server((sse) => {
        if (point === "before headers") return; // never answers
        if (point === "during the retry backoff") return sse.error(503, "busy");
        sse.open();
        if (point === "mid-stream") {
          sse.send(roleChunk());
          sse.send(textChunk("Partial"));
        }
      });
      const clock = new VirtualClock();
      const t = run(srv, { retryBackoffMs: 60_000 }, clock);
      await until(() => t.llm.state === "running");
      t.task.queueFrame(new LLMContextFrame(userContext()));
      await until(() => srv.requests.length === 1, 5_000, "the request");
      if (point === "mid-stream") await until(() => t.textsAfter().length === 1, 5_000, "the text");
      if (point === "during the retry backoff")
        await until(() => clock.pendingTimers > 0 && srv.requests[0]!.closed);
      const mark = t.down.frames.length;
      await t.task.cancel("test");
      await t.done;
      await until(() => srv.requests.every((r) => r.closed), 5_000, "the server to see every request closed");
      expect(srv.requests.length).toBe(1);
      expect(clock.pendingTimers).toBe(0);
      expect(clock.pendingRealWork).toBe(0);
      const after = t.down.frames.slice(mark).map((f) => f.constructor.name);
      expect(after.filter((n) => n !== "CancelFrame")).toEqual([]);
      // Client sockets of the cancelled request are gone (the server's own listening socket stays).
      // The server saw the client close the request (not merely the response end).
      if (point !== "during the retry backoff") expect(srv.requests[0]!.abortedByClient).toBe(true);
    });
  }
});

describe("loadOpenAI", () => {
  it("says what to install when the openai package is missing", async () => {
    const error = await loadOpenAI("OpenAILLMService#1", "openai-not-installed-here").catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LLMServiceError);
    expect((error as LLMServiceError).failure).toBe("missing-sdk");
    expect((error as Error).message).toContain("npm install openai");
  });

  it("loads the installed SDK", async () => {
    const sdk = await loadOpenAI("x");
    expect(typeof sdk.OpenAI).toBe("function");
  });
});
