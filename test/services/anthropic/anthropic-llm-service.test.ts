import { describe, expect, it } from "vitest";
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
import { LLMContext, defineTool } from "../../../src/context/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { httpFetch } from "../../../src/services/http/http-fetch.js";
import type { LLMServiceError } from "../../../src/services/llm/index.js";
import {
  AnthropicLLMService,
  type AnthropicLLMServiceOptions,
} from "../../../src/services/anthropic/index.js";
import { type LoopbackSse, until } from "../http/loopback-sse.js";
import { loopbackAnthropic } from "./loopback-anthropic.js";
import { count, expectCutShortSaidOnce, runLLM, userContext } from "../http/run-llm.js";
import {
  answer,
  blockStop,
  errorEvent,
  httpError,
  jsonDelta,
  messageDelta,
  messageStart,
  messageStop,
  ping,
  textBlockStart,
  textDelta,
  toolBlockStart,
} from "./anthropic-events.js";
import { closedAfterEach } from "../../support/servers.js";

/** The loopback Messages server, which also refuses thinking mistakes as Anthropic does. */
const server = closedAfterEach(loopbackAnthropic);

function service(srv: LoopbackSse, options: AnthropicLLMServiceOptions = {}): AnthropicLLMService {
  return new AnthropicLLMService({
    apiKey: "sk-ant-test",
    baseUrl: srv.baseUrl,
    env: {},
    model: "claude-test",
    ...options,
  });
}

const run = (srv: LoopbackSse, options: AnthropicLLMServiceOptions = {}, clock: Clock = new VirtualClock()) =>
  runLLM(service(srv, options), clock);

describe("AnthropicLLMService against a loopback Messages server", () => {
  it("an answer cut at max_tokens is spoken as far as it went, and said once, then counted", async () => {
    const srv = await server((sse) => {
      messageStart(sse, 25);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "The weather is");
      blockStop(sse, 0);
      messageDelta(sse, "max_tokens", 3);
      messageStop(sse);
      sse.end();
    });
    await expectCutShortSaidOnce(service(srv), "The weather is");
  });

  it("streams an answer: start, one text frame per text_delta, end, then ttfb, processing and usage", async () => {
    const srv = await server((sse) => answer(sse, ["The ", "weather ", "is fine."], [40, 15]));
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
    const metrics = t.metrics();
    expect(metrics.map((m) => m.kind)).toEqual(["ttfb", "processing", "llm_usage"]);
    expect(metrics.every((m) => m.model === "claude-test" && m.processor === t.llm.name)).toBe(true);
    expect(metrics[2]!.value).toEqual({
      promptTokens: 40,
      completionTokens: 15,
      totalTokens: 55,
      cachedTokens: 0,
    });
    // The request, as documented.
    const req = srv.requests[0]!;
    expect(req.headers["x-api-key"]).toBe("sk-ant-test");
    expect(req.headers["anthropic-version"]).toBe("2023-06-01");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.body).toEqual({
      model: "claude-test",
      max_tokens: 1024,
      stream: true,
      system: "Be brief.",
      messages: [{ role: "user", content: [{ type: "text", text: "What's the weather in Paris?" }] }],
    });
    expect(t.errors).toEqual([]);
  });

  it("counts cached prompt tokens into the prompt and reports them as cachedTokens", async () => {
    const srv = await server((sse) => {
      messageStart(sse, 10, 90);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Hi.");
      blockStop(sse, 0);
      messageDelta(sse, "end_turn", 3);
      messageStop(sse);
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.metrics().find((m) => m.kind === "llm_usage")!.value).toEqual({
      promptTokens: 100,
      completionTokens: 3,
      totalTokens: 103,
      cachedTokens: 90,
    });
  });

  it("puts parallel tool_use blocks together from input_json_delta fragments, records them and broadcasts FunctionCallsStartedFrame", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Let me check.");
      blockStop(sse, 0);
      toolBlockStart(sse, 1, "toolu_a", "get_weather");
      jsonDelta(sse, 1, "");
      jsonDelta(sse, 1, '{"city": "Pa');
      ping(sse);
      jsonDelta(sse, 1, 'ris"}');
      blockStop(sse, 1);
      toolBlockStart(sse, 2, "toolu_b", "get_time");
      jsonDelta(sse, 2, '{"zone":');
      jsonDelta(sse, 2, '"CET"}');
      blockStop(sse, 2);
      toolBlockStart(sse, 3, "toolu_c", "list_cities"); // input {} with no fragment at all
      blockStop(sse, 3);
      messageDelta(sse, "tool_use", 60);
      messageStop(sse);
      sse.end();
    });
    const tools = ["get_weather", "get_time", "list_cities"].map((name) =>
      defineTool({ name, description: name, parameters: { type: "object", properties: {} } }),
    );
    const context = userContext();
    context.setTools(tools);
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    // No handler is registered: the runner answers each call "unknown function" after the
    // answer's end (docs/design/function-calls.md); those results come whenever they come.
    expect(t.kinds().filter((kind) => kind !== "FunctionCallResultFrame")).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "FunctionCallsStartedFrame",
      "FunctionCallInProgressFrame",
      "FunctionCallInProgressFrame",
      "FunctionCallInProgressFrame",
      "LLMFullResponseEndFrame",
    ]);
    const [down] = t.down.ofType(FunctionCallsStartedFrame);
    expect(t.up.ofType(FunctionCallsStartedFrame)).toHaveLength(1);
    expect(down!.calls).toEqual([
      { functionName: "get_weather", toolCallId: "toolu_a", arguments: { city: "Paris" } },
      { functionName: "get_time", toolCallId: "toolu_b", arguments: { zone: "CET" } },
      { functionName: "list_cities", toolCallId: "toolu_c", arguments: {} },
    ]);
    expect(context.toolCallStatus("toolu_a")).toBe("in_progress");
    expect(context.toolCallStatus("toolu_c")).toBe("in_progress");
    const body = srv.requests[0]!.body;
    expect(body["tool_choice"]).toEqual({ type: "auto" });
    expect((body["tools"] as { name: string }[]).map((x) => x.name)).toEqual([
      "get_weather",
      "get_time",
      "list_cities",
    ]);
    expect(t.errors).toEqual([]);
  });

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

  it("reads the body's end after message_stop (off the answer's path), so consecutive answers reuse one connection", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Hi.");
      blockStop(sse, 0);
      messageDelta(sse, "end_turn", 2);
      messageStop(sse);
      setTimeout(() => sse.end(), 5); // the body ends a little after the last event
    });
    const t = run(srv);
    for (let i = 0; i < 4; i++) {
      t.task.queueFrame(new LLMContextFrame(userContext(`q${i}`)));
      await until(() => count(t.down, LLMFullResponseEndFrame) === i + 1, 5_000, `answer ${i}`);
      // The answer ends at message_stop; the body's end is read after it. A request sent before
      // that would need a second connection (the first is still busy).
      await until(() => t.llm.bodiesDraining === 0, 5_000, `the end of body ${i}`);
    }
    await t.finish();
    expect(srv.requests.length).toBe(4);
    expect(srv.connections()).toBe(1);
    expect(t.errors).toEqual([]);
  });

  it("a server that keeps the body open after message_stop still gets the answer finished, without an error", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Done.");
      blockStop(sse, 0);
      messageStop(sse); // and the body stays open
    });
    const t = run(srv, { stallTimeoutMs: 5_000 }, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => count(t.down, LLMFullResponseEndFrame) === 1, 5_000, "the answer");
    await t.finish();
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    await until(() => srv.requests[0]!.closed, 5_000, "the request closed");
    expect(t.errors).toEqual([]);
  });

  it("speaks no thinking, ignores unknown event types, and takes a tool's input from content_block_start when no delta carries it", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      sse.event("content_block_start", {
        type: "content_block_start",
        index: 0,
        content_block: { type: "thinking", thinking: "" },
      });
      sse.event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "thinking_delta", thinking: "The user wants..." },
      });
      sse.event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "signature_delta", signature: "EqQB" },
      });
      blockStop(sse, 0);
      sse.event("a_future_event", { type: "a_future_event", anything: true });
      sse.event("content_block_start", {
        type: "content_block_start",
        index: 1,
        content_block: { type: "tool_use", id: "toolu_x", name: "get_weather", input: { city: "Oslo" } },
      });
      blockStop(sse, 1);
      messageDelta(sse, "tool_use", 9);
      messageStop(sse);
      sse.end();
    });
    const context = userContext();
    context.setTools([
      defineTool({ name: "get_weather", description: "w", parameters: { type: "object", properties: {} } }),
    ]);
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    expect(t.textsAfter()).toEqual([]);
    expect(t.down.ofType(FunctionCallsStartedFrame)[0]!.calls).toEqual([
      { functionName: "get_weather", toolCallId: "toolu_x", arguments: { city: "Oslo" } },
    ]);
    expect(t.errors).toEqual([]);
  });

  it("on interruption mid-stream closes the request at once (the server sees it) and pushes nothing of it afterwards", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const srv = await server(async (sse, n) => {
      if (n === 2) return answer(sse, ["Next answer."]);
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "One, ");
      textDelta(sse, 0, "two, ");
      await held;
      textDelta(sse, 0, "three.");
      blockStop(sse, 0);
      messageStop(sse);
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

  it("a 401 is one clear, non-fatal error naming ANTHROPIC_API_KEY; later requests are refused without reaching the server", async () => {
    const srv = await server((sse) => httpError(sse, 401, "authentication_error", "invalid x-api-key"));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMContextFrame(userContext("again")));
    t.task.queueFrame(new LLMRunFrame());
    await t.finish();
    expect(srv.requests.length).toBe(1);
    expect(t.errors.length).toBe(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("auth");
    expect(error.status).toBe(401);
    expect(error.message).toContain("ANTHROPIC_API_KEY");
    expect(error.message).toContain("authentication_error: invalid x-api-key");
    expect(error.message).not.toContain("sk-ant-test");
    expect(error.message).not.toMatch(/\n\s+at /);
    expect(t.errors[0]!.fatal).toBe(false);
    expect(t.llm.usable).toBe(false);
    expect(t.kinds()).toEqual([]);
  });

  it("a 403 is an auth failure too", async () => {
    const srv = await server((sse) => httpError(sse, 403, "permission_error", "no access to this model"));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("auth");
    expect(t.llm.usable).toBe(false);
  });

  it("a missing key is one clear error at start naming ANTHROPIC_API_KEY, and nothing is sent", async () => {
    const srv = await server((sse) => answer(sse, ["never"]));
    const t = run(srv, { apiKey: undefined });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(0);
    expect(t.errors.length).toBe(1);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("missing-key");
    expect(t.errors[0]!.error.message).toContain("ANTHROPIC_API_KEY is not set");
  });

  it("reads the key and the endpoint from ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL (scheme and host)", async () => {
    const srv = await server((sse) => answer(sse, ["Hi."]));
    const t = run(srv, {
      apiKey: undefined,
      baseUrl: undefined,
      env: { ANTHROPIC_API_KEY: "sk-env", ANTHROPIC_BASE_URL: `${srv.baseUrl}/` },
    });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests[0]!.headers["x-api-key"]).toBe("sk-env");
    expect(srv.requests[0]!.url).toBe("/v1/messages");
    expect(t.textsAfter()).toEqual(["Hi."]);
  });

  it("a base URL that is not an http(s) URL is refused at construction, naming where it came from", () => {
    expect(
      () => new AnthropicLLMService({ apiKey: "k", env: { ANTHROPIC_BASE_URL: "api.anthropic.com" } }),
    ).toThrow(/ANTHROPIC_BASE_URL .*not a URL/);
    expect(() => new AnthropicLLMService({ apiKey: "k", baseUrl: "ws://x", env: {} })).toThrow(
      InvalidOptionError,
    );
    expect(() => new AnthropicLLMService({ apiKey: "k", maxTokens: 0, env: {} })).toThrow(/maxTokens/);
  });

  it("a 404 names the model and ANTHROPIC_BASE_URL, and is not retried", async () => {
    const srv = await server((sse) => httpError(sse, 404, "not_found_error", "model: claude-test"));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(1);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("request");
    expect(error.message).toContain("claude-test");
    expect(error.message).toContain("ANTHROPIC_BASE_URL");
    expect(t.llm.usable).toBe(true);
  });

  it("a wrong path (a base URL with a stray /v1) is a 404 that says what to fix", async () => {
    const srv = await server((sse) => answer(sse, ["never"]));
    const t = run(srv, { baseUrl: `${srv.baseUrl}/v1` });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests[0]!.url).toBe("/v1/v1/messages");
    expect(t.errors[0]!.error.message).toMatch(/HTTP 404.*ANTHROPIC_BASE_URL.*\/v1\/messages is appended/);
  });

  it("a 429 waits what retry-after asks (on the task clock), retries once, then reports rate-limited", async () => {
    const srv = await server((sse) =>
      httpError(sse, 429, "rate_limit_error", "Number of requests has exceeded your rate limit", {
        "retry-after": "2",
      }),
    );
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("rate-limited");
    expect(error.retryAfterMs).toBe(2000);
    expect(t.clock.now()).toBeGreaterThanOrEqual(2000);
    expect(t.kinds()).toEqual([]);
  });

  for (const [status, type] of [
    [529, "overloaded_error"],
    [503, "api_error"],
  ] as const) {
    it(`a ${status} then success: the one retry answers, after the backoff, with no error said`, async () => {
      const srv = await server((sse, n) =>
        n === 1 ? httpError(sse, status, type, "Overloaded") : answer(sse, ["Fine."]),
      );
      const t = run(srv, { retryBackoffMs: 700 });
      t.task.queueFrame(new LLMContextFrame(userContext()));
      await t.finish();
      expect(srv.requests.length).toBe(2);
      expect(t.textsAfter()).toEqual(["Fine."]);
      expect(t.errors).toEqual([]);
      expect(t.clock.now()).toBeGreaterThanOrEqual(700);
    });
  }

  it("a 529 twice is reported once as Anthropic overloaded, and pushes nothing downstream", async () => {
    const srv = await server((sse) => httpError(sse, 529, "overloaded_error", "Overloaded"));
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("server");
    expect(error.status).toBe(529);
    expect(error.message).toContain("overloaded");
    expect(t.kinds()).toEqual([]);
  });

  it("an overloaded_error event before any text is retried once and the retry answers", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["Second try."]);
      messageStart(sse);
      ping(sse);
      errorEvent(sse, "overloaded_error", "Overloaded");
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.textsAfter()).toEqual(["Second try."]);
    expect(t.errors).toEqual([]);
  });

  it("an error event after text went out ends the answer there and is said once, naming the overload", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Half an");
      errorEvent(sse, "overloaded_error", "Overloaded");
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(1);
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("server");
    expect(error.message).toContain("overloaded_error: Overloaded");
  });

  it("a malformed event mid-answer ends the answer cleanly and is said once; repeats are counted", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Hel");
      sse.raw("event: content_block_delta\ndata: {not json\n\n");
      textDelta(sse, 0, "lo");
      messageStop(sse);
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
    expect(t.errors[0]!.error.message).toContain("not valid JSON");
  });

  it("a malformed event before any text is retried once", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["Good."]);
      sse.raw('event: message_start\ndata: {"no":"type"}\n\n');
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(srv.requests.length).toBe(2);
    expect(t.textsAfter()).toEqual(["Good."]);
  });

  it("a tool delta for a block that is not a tool is malformed", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      jsonDelta(sse, 0, '{"a":1}');
    });
    const t = run(srv, { retryBackoffMs: 0 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("malformed");
    expect(t.errors[0]!.error.message).toContain("did not start as a tool_use block");
  });

  it("a 200 that is not an event stream (a proxy's page) is a request error naming ANTHROPIC_BASE_URL, not retried, not a silent empty answer", async () => {
    const srv = await server((sse) => sse.plain("text/html", "<html>Gateway</html>"));
    const t = run(srv, { retryBackoffMs: 0 });
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.errors).toHaveLength(1);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("request");
    expect(t.errors[0]!.error.message).toContain("text/html, not text/event-stream");
    expect(t.errors[0]!.error.message).toContain("ANTHROPIC_BASE_URL");
    expect(srv.requests).toHaveLength(1); // the same page would come again: not retried
  });

  it("a stream cut mid-answer (connection dropped) is reported; the answer so far is closed", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Cut");
      setTimeout(() => sse.destroy(), 5);
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("connection");
  });

  it("a stream that ends without message_stop is reported as cut", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Cut");
      sse.end();
    });
    const t = run(srv);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("connection");
    expect(error.message).toContain("no message_stop");
  });

  it("an unreachable endpoint is a connection failure naming ANTHROPIC_BASE_URL, retried once", async () => {
    const srv = await loopbackAnthropic((sse) => answer(sse, ["x"])); // not closed after the test: closed here
    const dead = srv.baseUrl;
    await srv.close();
    const t = runLLM(new AnthropicLLMService({ apiKey: "k", baseUrl: dead, env: {}, retryBackoffMs: 0 }));
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("connection");
    expect(error.message).toContain("could not reach");
    expect(error.message).toContain("ANTHROPIC_BASE_URL");
  });

  it("abandons a stream that stalls before its first token and answers from the one retry", async () => {
    const srv = await server((sse, n) => {
      if (n === 2) return answer(sse, ["Retried."]);
      messageStart(sse); // then nothing
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

  it("a stall after text went out ends the answer there, reported as stalled, without a retry", async () => {
    const srv = await server((sse) => {
      messageStart(sse);
      textBlockStart(sse, 0);
      textDelta(sse, 0, "Half an");
    });
    const t = run(srv, { stallTimeoutMs: 100 }, new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.errors.length === 1, 5_000, "the error");
    await t.finish();
    expect(srv.requests.length).toBe(1);
    await until(() => srv.requests[0]!.closed, 5_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    expect((t.errors[0]!.error as LLMServiceError).failure).toBe("stalled");
  });

  it("a context Anthropic cannot take (audio) is a request error, not retried", async () => {
    const srv = await server((sse) => answer(sse, ["never"]));
    const t = run(srv);
    const context = new LLMContext({
      messages: [
        {
          role: "user",
          content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }],
        },
      ],
    });
    t.task.queueFrame(new LLMContextFrame(context));
    await t.finish();
    expect(srv.requests.length).toBe(0);
    const error = t.errors[0]!.error as LLMServiceError;
    expect(error.failure).toBe("request");
    expect(error.message).toContain("Anthropic takes no audio input");
  });
});

describe("AnthropicLLMService: cancel at every point leaves nothing running", () => {
  type Point = "before headers" | "before the first event" | "mid-stream" | "during the retry backoff";
  const points: Point[] = [
    "before headers",
    "before the first event",
    "mid-stream",
    "during the retry backoff",
  ];

  for (const point of points) {
    it(`cancel ${point}: the request is closed, no timer is pending, nothing more is pushed`, async () => {
      const srv = await server((sse) => {
        if (point === "before headers") return; // never answers
        if (point === "during the retry backoff")
          return httpError(sse, 529, "overloaded_error", "Overloaded");
        sse.open();
        if (point === "mid-stream") {
          messageStart(sse);
          textBlockStart(sse, 0);
          textDelta(sse, 0, "Partial");
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
      if (point !== "during the retry backoff") expect(srv.requests[0]!.abortedByClient).toBe(true);
    });
  }
});
