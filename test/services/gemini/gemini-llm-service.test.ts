import { afterEach, describe, expect, it } from "vitest";
import {
  type Clock,
  FunctionCallsStartedFrame,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMRunFrame,
  SystemClock,
  VirtualClock,
} from "../../../src/index.js";
import { defineTool } from "../../../src/context/index.js";
import { httpFetch } from "../../../src/services/http/http-fetch.js";
import type { LLMServiceError } from "../../../src/services/llm/index.js";
import {
  GeminiLLMService,
  type GeminiLLMServiceOptions,
  MAX_KEPT_SIGNATURES,
} from "../../../src/services/gemini/index.js";
import { type LoopbackSse, type Responder, loopbackSse, until } from "../http/loopback-sse.js";
import { count, expectCutShortSaidOnce, runLLM, userContext } from "../http/run-llm.js";
import { answer, httpError, partsChunk, textChunk, usageChunk } from "./gemini-events.js";

const PATH = "/v1beta/models/gemini-test:streamGenerateContent?alt=sse";

const servers: LoopbackSse[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(respond: Responder): Promise<LoopbackSse> {
  const s = await loopbackSse((url) => url === PATH, respond, {
    error: {
      code: 404,
      message: "models/unknown is not found for API version v1beta",
      status: "NOT_FOUND",
    },
  });
  servers.push(s);
  return s;
}

function service(srv: LoopbackSse, options: GeminiLLMServiceOptions = {}): GeminiLLMService {
  return new GeminiLLMService({
    apiKey: "AIza-test",
    baseUrl: srv.baseUrl,
    env: {},
    model: "gemini-test",
    ...options,
  });
}

const run = (srv: LoopbackSse, options: GeminiLLMServiceOptions = {}, clock: Clock = new VirtualClock()) =>
  runLLM(service(srv, options), clock);

const weatherTools = () =>
  ["get_weather", "get_time"].map((name) =>
    defineTool({ name, description: name, parameters: { type: "object", properties: {} } }),
  );

describe("GeminiLLMService against a loopback streamGenerateContent server", () => {
  it("sends through httpFetch by default: its shared pool's idle connection serves both answers (with Node's fetch, it cannot)", async () => {
    const connections: number[] = [];
    for (const fetch of [undefined, globalThis.fetch]) {
      const srv = await server((sse) => answer(sse, ["Hi."]));
      // httpFetch leaves one idle connection to the server; only a request sent through it reuses that.
      await (await httpFetch(`${srv.baseUrl}/warm-up`, { method: "POST", body: "{}" })).text();
      const t = run(srv, fetch ? { fetch } : {});
      for (let i = 0; i < 2; i++) {
        t.task.queueFrame(new LLMContextFrame(userContext(`q${i}`)));
        await until(() => count(t.down, LLMFullResponseEndFrame) === i + 1, 5_000, `answer ${i}`);
      }
      await t.finish();
      expect(t.errors).toEqual([]);
      connections.push(srv.connections());
    }
    expect(connections[0]).toBe(1);
    expect(connections[1]).toBeGreaterThan(1);
  });

  it("a 200 that is not an event stream (a proxy's page) is a request error naming GEMINI_BASE_URL, not retried", async () => {
    const srv = await server((sse) => sse.plain("text/html", "<html>Gateway</html>"));
    const t = run(srv, { retryBackoffMs: 0 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.errors).toHaveLength(1);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("request");
    expect(t.errors[0]!.error.message).toMatch(/text\/html, not text\/event-stream.*GEMINI_BASE_URL/);
    expect(srv.requests).toHaveLength(1);
  });

  it("an answer cut at MAX_TOKENS is spoken as far as it went, and said once, then counted", async () => {
    const srv = await server((sse) => {
      sse.data(textChunk("The weather is", "MAX_TOKENS"), "\r\n");
      sse.end();
    });
    await expectCutShortSaidOnce(service(srv), "The weather is");
  });

  it("streams an answer (CRLF events): start, one text frame per chunk, end, then ttfb, processing and usage", async () => {
    const srv = await server((sse) => answer(sse, ["It is", " sunny", " in Paris."], [21, 6]));
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
    expect(t.textsAfter().join("")).toBe("It is sunny in Paris.");
    const metrics = t.metrics();
    expect(metrics.map((m) => m.kind)).toEqual(["ttfb", "processing", "llm_usage"]);
    expect(metrics.every((m) => m.model === "gemini-test" && m.processor === t.llm.name)).toBe(true);
    expect(metrics[2]!.value).toEqual({ promptTokens: 21, completionTokens: 6, totalTokens: 27 });
    const req = srv.requests[0]!;
    expect(req.url).toBe(PATH);
    expect(req.headers["x-goog-api-key"]).toBe("AIza-test");
    expect(req.body).toEqual({
      systemInstruction: { parts: [{ text: "Be brief." }] },
      contents: [{ role: "user", parts: [{ text: "What's the weather in Paris?" }] }],
    });
    expect(t.errors).toEqual([]);
  });

  it("reports thinking and cached tokens: the completion counts the thoughts, like OpenAI's", async () => {
    const srv = await server((sse) => {
      sse.data(textChunk("Hi."));
      sse.data(
        usageChunk(100, 3, { thoughtsTokenCount: 40, cachedContentTokenCount: 64, totalTokenCount: 143 }),
      );
      sse.end();
    });
    const t = run(srv, { params: { generationConfig: { temperature: 0.2 } } });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.metrics().find((m) => m.kind === "llm_usage")!.value).toEqual({
      promptTokens: 100,
      completionTokens: 43,
      totalTokens: 143,
      cachedTokens: 64,
      reasoningTokens: 40,
    });
    expect(srv.requests[0]!.body["generationConfig"]).toEqual({ temperature: 0.2 });
  });

  it("turns whole functionCall parts into parallel calls, records them, and sends their thought signatures back next time", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["18 degrees."]);
      sse.data(textChunk("Let me check."));
      sse.data(
        partsChunk(
          [
            { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "sig-A" },
            { functionCall: { id: "fc_given", name: "get_time", args: { zone: "CET" } } },
          ],
          "STOP",
        ),
      );
      sse.end();
    });
    const context = userContext();
    context.setTools(weatherTools());
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 5_000, "the first answer");
    // No handler is registered: the runner answers each call "unknown function" after the
    // answer's end (docs/design/function-calls.md); those results come whenever they come.
    expect(t.kinds().filter((kind) => kind !== "FunctionCallResultFrame")).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "FunctionCallsStartedFrame",
      "FunctionCallInProgressFrame",
      "FunctionCallInProgressFrame",
      "LLMFullResponseEndFrame",
    ]);
    const calls = t.down.ofType(FunctionCallsStartedFrame)[0]!.calls;
    expect(t.up.ofType(FunctionCallsStartedFrame)).toHaveLength(1);
    expect(calls.map((c) => [c.functionName, c.arguments])).toEqual([
      ["get_weather", { city: "Paris" }],
      ["get_time", { zone: "CET" }],
    ]);
    const madeId = calls[0]!.toolCallId;
    expect(madeId).toMatch(/^call_/);
    expect(calls[1]!.toolCallId).toBe("fc_given");
    expect(context.toolCallStatus(madeId)).toBe("in_progress");
    const firstBody = srv.requests[0]!.body;
    expect(firstBody["toolConfig"]).toEqual({ functionCallingConfig: { mode: "AUTO" } });
    // The results come back; the model turn goes back with its signature on the call's part.
    context.recordToolResult(madeId, { temp_c: 18 });
    context.recordToolResult("fc_given", { time: "12:00" });
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    expect(t.textsAfter()).toEqual(["Let me check.", "18 degrees."]);
    const contents = srv.requests[1]!.body["contents"] as {
      role: string;
      parts: Record<string, unknown>[];
    }[];
    const model = contents.find((c) => c.role === "model" && c.parts.some((p) => "functionCall" in p))!;
    expect(model.parts.filter((p) => "functionCall" in p)).toEqual([
      { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "sig-A" },
      { functionCall: { name: "get_time", args: { zone: "CET" } } },
    ]);
    const responses = contents.at(-1)!.parts;
    expect(responses).toEqual([
      { functionResponse: { name: "get_weather", response: { temp_c: 18 } } },
      { functionResponse: { name: "get_time", response: { time: "12:00" } } },
    ]);
    expect(t.errors).toEqual([]);
  });

  it("keeps a bounded number of thought signatures over a long session", async () => {
    const answers = Math.ceil(MAX_KEPT_SIGNATURES / 8) + 5;
    const srv = await server((sse) => {
      const parts = Array.from({ length: 8 }, (_, i) => ({
        functionCall: { name: "get_weather", args: { i } },
        thoughtSignature: `sig-${i}`,
      }));
      sse.data(partsChunk(parts, "STOP"));
      sse.end();
    });
    const t = run(srv);
    let most = 0;
    for (let i = 0; i < answers; i++) {
      const context = userContext(`q${i}`);
      context.setTools(weatherTools());
      t.task.queueFrame(new LLMContextFrame(context));
      await until(() => count(t.down, LLMFullResponseEndFrame) === i + 1, 5_000, `answer ${i}`);
      most = Math.max(most, t.llm.keptThoughtSignatures);
    }
    await t.finish();
    expect(count(t.down, FunctionCallsStartedFrame)).toBe(answers);
    expect(most).toBe(MAX_KEPT_SIGNATURES);
    expect(t.errors).toEqual([]);
  });

  it("on interruption mid-stream closes the request at once (the server sees it) and pushes nothing of it afterwards", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const srv = await server(async (sse, n) => {
      if (n === 2) return answer(sse, ["Next answer."]);
      sse.data(textChunk("One, "));
      sse.data(textChunk("two, "));
      await held;
      sse.data(textChunk("three.", "STOP"));
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.textsAfter().length === 2, 5_000, "two text frames");
    const mark = t.down.frames.length;
    t.task.queueFrame(new InterruptionFrame());
    await until(() => srv.requests[0]!.closed, 5_000, "the server to see the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    release();
    expect(t.down.frames.slice(mark).map((f) => f.constructor.name)).toEqual(["InterruptionFrame"]);
    t.task.queueFrame(new LLMContextFrame(userContext("And now?")));
    await t.finish();
    expect(t.textsAfter(mark)).toEqual(["Next answer."]);
    expect(t.errors).toEqual([]);
  });

  it("Google's answer to a bad key (400 API_KEY_INVALID) is one auth error naming the key's variable; later requests are refused", async () => {
    const srv = await server((sse) =>
      httpError(sse, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          domain: "googleapis.com",
        },
      ]),
    );
    const t = run(srv, { apiKey: undefined, env: { GEMINI_API_KEY: "AIza-bad" } });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMRunFrame());
    await t.finish();
    expect(srv.requests.length).toBe(1);
    expect(t.errors.length).toBe(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("auth");
    expect(error.message).toContain("from GEMINI_API_KEY");
    expect(error.message).toContain("GOOGLE_API_KEY or GEMINI_API_KEY");
    expect(error.message).toContain("API key not valid");
    expect(error.message).not.toContain("AIza-bad");
    expect(t.errors[0]!.fatal).toBe(false);
    expect(t.llm.usable).toBe(false);
  });

  it("a 403 PERMISSION_DENIED is an auth failure", async () => {
    const srv = await server((sse) =>
      httpError(sse, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
    );
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("auth");
    expect(t.errors[0]!.error.message).toContain("the apiKey option");
  });

  it("a missing key names both variables, and nothing is sent", async () => {
    const srv = await server((sse) => answer(sse, ["never"]));
    const t = run(srv, { apiKey: undefined });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(0);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("missing-key");
    expect(t.errors[0]!.error.message).toContain("neither GOOGLE_API_KEY nor GEMINI_API_KEY is set");
  });

  it("reads GOOGLE_API_KEY before GEMINI_API_KEY (Google's order), and the endpoint from GEMINI_BASE_URL", async () => {
    const srv = await server((sse) => answer(sse, ["Hi."]));
    const t = run(srv, {
      apiKey: undefined,
      baseUrl: undefined,
      env: { GOOGLE_API_KEY: "AIza-google", GEMINI_API_KEY: "AIza-gemini", GEMINI_BASE_URL: srv.baseUrl },
    });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests[0]!.headers["x-goog-api-key"]).toBe("AIza-google");
    expect(t.textsAfter()).toEqual(["Hi."]);
  });

  it("a 404 names the model and GEMINI_BASE_URL, and is not retried", async () => {
    const srv = await server((sse) => answer(sse, ["never"]));
    const t = run(srv, { model: "unknown" });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("request");
    expect(error.status).toBe(404);
    expect(error.message).toContain("(unknown)");
    expect(error.message).toContain("GEMINI_BASE_URL");
    expect(error.message).toContain("NOT_FOUND: models/unknown is not found");
  });

  it("a model name that cannot be a path is refused at construction", () => {
    expect(() => new GeminiLLMService({ apiKey: "k", env: {}, model: "a/b/c" })).toThrow(/model must be/);
    expect(() => new GeminiLLMService({ apiKey: "k", env: { GEMINI_BASE_URL: "localhost:9" } })).toThrow(
      /GEMINI_BASE_URL/,
    );
  });

  it("a 429 waits the body's RetryInfo delay (on the task clock), retries once, then reports rate-limited", async () => {
    const srv = await server((sse) =>
      httpError(sse, 429, "RESOURCE_EXHAUSTED", "Quota exceeded", [
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "3s" },
      ]),
    );
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("rate-limited");
    expect(error.retryAfterMs).toBe(3000);
    expect(t.clock.now()).toBeGreaterThanOrEqual(3000);
  });

  it("a 429 with retry-after waits what the header asks", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? httpError(sse, 429, "RESOURCE_EXHAUSTED", "Quota exceeded", [], { "retry-after": "2" })
        : answer(sse, ["Later."]),
    );
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.textsAfter()).toEqual(["Later."]);
    expect(t.clock.now()).toBeGreaterThanOrEqual(2000);
  });

  it("a 503 then success: the one retry answers, after the backoff, with no error said", async () => {
    const srv = await server((sse, n) =>
      n === 1 ? httpError(sse, 503, "UNAVAILABLE", "The model is overloaded.") : answer(sse, ["Fine."]),
    );
    const t = run(srv, { retryBackoffMs: 700 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.textsAfter()).toEqual(["Fine."]);
    expect(t.errors).toEqual([]);
    expect(t.clock.now()).toBeGreaterThanOrEqual(700);
  });

  it("an error object in the stream before any text is retried; after text it ends the answer and is said once", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) {
        sse.data({ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } });
        return sse.end();
      }
      sse.data(textChunk("Half an"));
      sse.data({ error: { code: 500, message: "Internal error", status: "INTERNAL" } });
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("server");
    expect(error.message).toContain("INTERNAL: Internal error, sent in the stream");
  });

  it("a blocked prompt is a request error that says why, not a silent bot", async () => {
    const srv = await server((sse) => {
      sse.data({ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 9 } });
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("request");
    expect(error.message).toContain("blockReason SAFETY");
  });

  it("a malformed chunk mid-answer ends the answer cleanly and is said once; repeats are counted", async () => {
    const srv = await server((sse) => {
      sse.data(textChunk("Hel"));
      sse.raw("data: {not json\r\n\r\n");
      sse.data(textChunk("lo", "STOP"));
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMContextFrame(userContext("again")));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.textsAfter()).toEqual(["Hel", "Hel"]);
    expect(count(t.down, LLMFullResponseEndFrame)).toBe(2);
    expect(t.errors.length).toBe(1);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("malformed");
  });

  it("a stream cut mid-answer (connection dropped) is reported; the answer so far is closed", async () => {
    const srv = await server((sse) => {
      sse.data(textChunk("Cut"));
      setTimeout(() => sse.destroy(), 5);
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("connection");
  });

  it("a body that ends without a finishReason is reported as cut, with no usage", async () => {
    const srv = await server((sse) => {
      sse.data(textChunk("Cut"));
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    expect(t.errors[0]!.error.message).toContain("no finishReason");
    expect(t.metrics().some((m) => m.kind === "llm_usage")).toBe(false);
  });

  it("abandons a stream that stalls before its first token and answers from the one retry", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["Retried."]);
      sse.open(); // then nothing
    });
    const t = run(srv, { stallTimeoutMs: 100 }, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 5_000, "the answer");
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.textsAfter()).toEqual(["Retried."]);
    expect(t.errors).toEqual([]);
  });
});

describe("GeminiLLMService: cancel at every point leaves nothing running", () => {
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
        if (point === "before headers") return;
        if (point === "during the retry backoff") return httpError(sse, 503, "UNAVAILABLE", "busy");
        sse.open();
        if (point === "mid-stream") sse.data(textChunk("Partial"));
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
      if (point !== "during the retry backoff") expect(srv.requests[0]!.abortedByClient).toBe(true);
    });
  }
});
