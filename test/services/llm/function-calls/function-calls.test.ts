import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import {
  FunctionCallCancelFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
  InterruptionFrame,
  InvalidOptionError,
  LLMContextFrame,
  LLMRunFrame,
} from "../../../../src/index.js";
import { FrameDirection } from "../../../../src/frames/frame.js";
import type { LLMMessage } from "../../../../src/context/index.js";
import { OpenAILLMService } from "../../../../src/services/llm/openai/index.js";
import { answer, until } from "../loopback-openai.js";
import {
  booking,
  callsThenText,
  clockTool,
  closeServers,
  deferred,
  run,
  server,
  userContext,
  weather,
} from "./harness.js";

afterEach(closeServers);

const errorOf = (frame: FunctionCallResultFrame | undefined): string =>
  (frame?.result as { error?: string } | undefined)?.error ?? "";

/** The tool messages of a request body, by call id. */
function toolMessages(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of body["messages"] as (LLMMessage & { content: string })[]) {
    if (m.role === "tool") out[m.tool_call_id] = m.content;
  }
  return out;
}

describe("function calls run by the OpenAI LLM service (loopback chat-completions server)", () => {
  it("runs a call with typed arguments, pushes in-progress then the result both ways, and the upstream context is answered", async () => {
    const srv = await server(
      callsThenText([{ id: "call_w", name: "get_weather", args: '{"city":"Paris","unit":"c"}' }]),
    );
    const t = run(srv, { context: userContext() });
    const seen: unknown[] = [];
    t.llm.registerFunction(weather, ({ city, unit }, call) => {
      expectTypeOf(city).toEqualTypeOf<string>();
      expectTypeOf(unit).toEqualTypeOf<"c" | "f" | undefined>();
      seen.push(city, unit, call.call.toolCallId, call.signal.aborted, call.context === t.llm.llmContext);
      return { city, temperature: 21 };
    });
    expect(t.llm.llmContext.tools.map((tool) => tool.name)).toEqual(["get_weather"]);
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(seen).toEqual(["Paris", "c", "call_w", false, true]);
    expect(t.kinds()).toEqual([
      "LLMFullResponseStartFrame",
      "FunctionCallsStartedFrame",
      "FunctionCallInProgressFrame",
      "LLMFullResponseEndFrame",
      "FunctionCallResultFrame",
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);
    // Both ways, as twins.
    const twins = (type: typeof FunctionCallInProgressFrame | typeof FunctionCallResultFrame): void => {
      const [down] = t.down.frames.filter((f) => f instanceof type);
      const [up] = t.up.frames.filter((f) => f instanceof type);
      expect(up).toBeDefined();
      expect(down!.broadcastSiblingId).toBe(up!.id);
    };
    twins(FunctionCallInProgressFrame);
    twins(FunctionCallResultFrame);
    expect(t.resultOf("call_w")!.result).toEqual({ city: "Paris", temperature: 21 });
    expect(t.resultOf("call_w")!.runLlm).toBe(true);
    // The tool was offered, and the second request carries the result.
    expect((srv.requests[0]!.body["tools"] as { function: { name: string } }[])[0]!.function.name).toBe(
      "get_weather",
    );
    expect(toolMessages(srv.requests[1]!.body)).toEqual({ call_w: '{"city":"Paris","temperature":21}' });
    // The upstream LLMContextFrame was answered, not passed further upstream.
    expect(t.up.ofType(LLMContextFrame)).toEqual([]);
    expect(t.texts()).toEqual(["Done 2."]);
    expect(t.errors).toEqual([]);
    expect(t.llm.functionCallsInFlight).toBe(0);
  });

  it("a call that passes its timeout is stopped (its signal aborts) and answered with a result saying it timed out", async () => {
    const srv = await server(
      callsThenText([{ id: "call_slow", name: "get_weather", args: '{"city":"Oslo"}' }]),
    );
    const t = run(srv, { context: userContext() });
    let aborted: unknown;
    t.llm.registerFunction(
      weather,
      (_args, { signal }) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => {
            aborted = signal.reason;
            reject(signal.reason as Error);
          }),
        ),
      { timeoutMs: 2_500 },
    );
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.down.ofType(FunctionCallInProgressFrame).length === 1);
    const startedAt = t.clock.now();
    await t.clock.runUntil(() => t.resultOf("call_slow") !== undefined);
    expect(t.clock.now() - startedAt).toBe(2_500);
    expect(aborted).toBeInstanceOf(Error);
    expect(errorOf(t.resultOf("call_slow"))).toBe(
      "get_weather did not finish within 2500 ms and was stopped; tell the user it took too long, or try again",
    );
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(toolMessages(srv.requests[1]!.body)["call_slow"]).toContain("did not finish within 2500 ms");
    expect(t.llm.lateFunctionResultsDropped).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it("an interruption cancels a cancellable call (cancel both ways, signal aborted, its late result dropped and counted) while a call with cancelOnInterruption false delivers its result afterwards", async () => {
    const srv = await server(
      callsThenText([
        { id: "call_c", name: "get_weather", args: '{"city":"Rome"}' },
        { id: "call_k", name: "book_table", args: '{"people":4}' },
      ]),
    );
    const t = run(srv, { context: userContext() });
    let cancelledSignal: AbortSignal | undefined;
    t.llm.registerFunction(weather, async (_args, { clock, signal }) => {
      cancelledSignal = signal;
      await clock.sleep(5_000); // ignores its signal on purpose: what it returns must be dropped
      return "sunny (too late)";
    });
    let keptSignal: AbortSignal | undefined;
    t.llm.registerFunction(
      booking,
      async ({ people }, { clock, signal }) => {
        keptSignal = signal;
        await clock.sleep(3_000, signal);
        return `booked for ${people}`;
      },
      { cancelOnInterruption: false },
    );
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.down.ofType(FunctionCallInProgressFrame).length === 2);
    expect(t.down.ofType(FunctionCallInProgressFrame).map((f) => f.cancelOnInterruption)).toEqual([
      true,
      false,
    ]);
    await t.clock.advance(1_000);
    const mark = t.down.frames.length;
    t.task.queueFrame(new InterruptionFrame());
    await t.clock.runUntil(() => t.down.ofType(FunctionCallCancelFrame).length === 1);
    expect(t.up.ofType(FunctionCallCancelFrame).map((f) => f.call.toolCallId)).toEqual(["call_c"]);
    expect(cancelledSignal!.aborted).toBe(true);
    expect(keptSignal!.aborted).toBe(false);
    expect(t.llm.llmContext.toolCallStatus("call_c")).toBe("cancelled");
    // The kept call finishes after the interruption; its result is pushed, and answered.
    await t.clock.runUntil(() => t.resultOf("call_k") !== undefined);
    expect(t.clock.now()).toBe(3_000);
    expect(t.resultOf("call_k")!.result).toBe("booked for 4");
    await t.clock.runUntil(() => t.answers() === 2);
    // The cancelled handler returns at 5 s: dropped, counted, nothing pushed.
    await t.clock.advanceTo(5_000);
    await t.clock.runUntil(() => t.llm.lateFunctionResultsDropped === 1);
    expect(t.resultOf("call_c")).toBeUndefined();
    await t.finish();
    expect(t.kinds(mark)).toEqual([
      "InterruptionFrame",
      "FunctionCallCancelFrame",
      "FunctionCallResultFrame",
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);
    expect(toolMessages(srv.requests[1]!.body)).toEqual({
      call_c: "The function call was cancelled; there is no result.",
      call_k: "booked for 4",
    });
    expect(t.errors).toEqual([]);
  });

  it("answers a call of an unknown tool, and arguments that do not match the schema or are not JSON, at once with a result naming what was wrong", async () => {
    const srv = await server(
      callsThenText([
        { id: "call_u", name: "launch_rocket", args: "{}" },
        { id: "call_t", name: "get_weather", args: '{"city":5}' },
        { id: "call_j", name: "get_weather", args: '{"city":"Par' },
        { id: "call_m", name: "get_weather", args: '{"unit":"c"}' },
      ]),
    );
    const t = run(srv, { context: userContext() });
    let ran = 0;
    t.llm.registerFunction(weather, () => ++ran);
    t.llm.registerFunction(clockTool, () => "12:00");
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(ran).toBe(0);
    expect(t.clock.now()).toBe(0); // answered at once: no time passed
    expect(errorOf(t.resultOf("call_u"))).toBe(
      'there is no function named "launch_rocket"; the functions available are get_weather, get_time',
    );
    expect(errorOf(t.resultOf("call_t"))).toBe(
      "invalid arguments for get_weather: arguments.city must be a string (got number 5); call it again with arguments that match its parameters",
    );
    expect(errorOf(t.resultOf("call_j"))).toBe(
      'the argument text for get_weather is not valid JSON (got "{\\"city\\":\\"Par"); call it again with arguments that match its parameters',
    );
    expect(errorOf(t.resultOf("call_m"))).toMatch(/^invalid arguments for get_weather: .*city/);
    // All four answered in one group, then the model was asked again.
    expect(Object.keys(toolMessages(srv.requests[1]!.body))).toEqual([
      "call_u",
      "call_t",
      "call_j",
      "call_m",
    ]);
  });

  it("runs parallel calls at once and pushes their results in the order they complete", async () => {
    const srv = await server(
      callsThenText([
        { id: "a", name: "get_weather", args: '{"city":"A"}' },
        { id: "b", name: "get_weather", args: '{"city":"B"}' },
        { id: "c", name: "get_weather", args: '{"city":"C"}' },
      ]),
    );
    const t = run(srv, { context: userContext() });
    const delays: Record<string, number> = { A: 300, B: 100, C: 200 };
    const started: number[] = [];
    t.llm.registerFunction(weather, async ({ city }, { clock, signal }) => {
      started.push(clock.now());
      await clock.sleep(delays[city]!, signal);
      return `${city} at ${clock.now()}`;
    });
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(started).toEqual([0, 0, 0]);
    const results = t.down.ofType(FunctionCallResultFrame).map((f) => f.result);
    expect(results).toEqual(["B at 100", "C at 200", "A at 300"]);
    expect(t.up.ofType(FunctionCallResultFrame).map((f) => f.result)).toEqual(results);
    expect(srv.requests.length).toBe(2); // one answer for the whole group
  });

  it("with sequential: true runs the calls one at a time, in the order the model made them", async () => {
    const srv = await server(
      callsThenText([
        { id: "a", name: "get_weather", args: '{"city":"A"}' },
        { id: "b", name: "get_weather", args: '{"city":"B"}' },
      ]),
    );
    const t = run(srv, { context: userContext(), functionCalls: { sequential: true } });
    t.llm.registerFunction(weather, async ({ city }, { clock, signal }) => {
      const from = clock.now();
      await clock.sleep(city === "A" ? 300 : 100, signal);
      return `${city} ${from}-${clock.now()}`;
    });
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(t.down.ofType(FunctionCallResultFrame).map((f) => f.result)).toEqual(["A 0-300", "B 300-400"]);
  });

  it("a handler that throws is answered with its message (no stack); one returning no JSON data is answered too", async () => {
    const srv = await server(
      callsThenText([
        { id: "t", name: "get_weather", args: '{"city":"Atlantis"}' },
        { id: "u", name: "get_time", args: '{"zone":"CET"}' },
      ]),
    );
    const t = run(srv, { context: userContext() });
    t.llm.registerFunction(weather, async ({ city }) => {
      await Promise.resolve();
      throw new Error(`no city called ${city}`);
    });
    // A handler written in plain JavaScript may return anything.
    t.llm.registerFunction(clockTool, (() => undefined) as never);
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(t.resultOf("t")!.result).toEqual({ error: "get_weather failed: no city called Atlantis" });
    expect(JSON.stringify(t.resultOf("t")!.result)).not.toContain(" at ");
    expect(errorOf(t.resultOf("u"))).toBe(
      "get_time returned something that is not JSON data, so there is no usable result",
    );
    expect(t.errors).toEqual([]);
  });

  it("past maxInFlight a call is answered as busy without running", async () => {
    const srv = await server(
      callsThenText([
        { id: "a", name: "get_weather", args: '{"city":"A"}' },
        { id: "b", name: "get_weather", args: '{"city":"B"}' },
      ]),
    );
    const t = run(srv, { context: userContext(), functionCalls: { maxInFlight: 1 } });
    const ran: string[] = [];
    t.llm.registerFunction(weather, ({ city }) => {
      ran.push(city);
      return city;
    });
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(ran).toEqual(["A"]);
    expect(errorOf(t.resultOf("b"))).toContain("1 function calls are already running");
  });

  it("cancelling the task while handlers run aborts every handler and leaves nothing running", async () => {
    const srv = await server(
      callsThenText([
        { id: "a", name: "get_weather", args: '{"city":"A"}' },
        { id: "b", name: "book_table", args: '{"people":2}' },
      ]),
    );
    const t = run(srv, { context: userContext() });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const ended: string[] = [];
    const handler = async (
      name: string,
      signal: AbortSignal,
      clock: { sleep: (ms: number, s: AbortSignal) => Promise<void> },
    ) => {
      try {
        await clock.sleep(60_000, signal);
        return "finished";
      } finally {
        ended.push(`${name}:${signal.aborted}`);
      }
    };
    t.llm.registerFunction(weather, (_a, c) => handler("a", c.signal, c.clock));
    t.llm.registerFunction(booking, (_a, c) => handler("b", c.signal, c.clock), {
      cancelOnInterruption: false,
    });
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.llm.functionCallsInFlight === 2 && t.answers() === 1);
    expect(t.clock.pendingTimers).toBeGreaterThan(0);
    const mark = t.down.frames.length;
    const cancelled = t.task.cancel("test");
    await t.clock.runUntil(cancelled);
    await t.done;
    await until(() => ended.length === 2, 2_000, "both handlers to return");
    expect(ended.sort()).toEqual(["a:true", "b:true"]);
    expect(t.llm.functionCallsInFlight).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
    expect(t.clock.pendingRealWork).toBe(0);
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBeLessThanOrEqual(
      timersBefore,
    );
    // Nothing of the calls is pushed after the cancel.
    expect(t.kinds(mark)).toEqual([]);
    expect(srv.requests.length).toBe(1);
  });

  it("at the end of the pipeline waits for running calls (their results go out before the end) and cancels those past endWaitMs", async () => {
    const srv = await server(
      callsThenText([
        { id: "quick", name: "get_weather", args: '{"city":"A"}' },
        { id: "stuck", name: "book_table", args: '{"people":2}' },
      ]),
    );
    const t = run(srv, { context: userContext(), functionCalls: { endWaitMs: 1_000 } });
    t.llm.registerFunction(weather, async (_a, { clock, signal }) => {
      await clock.sleep(400, signal);
      return "ok";
    });
    let stuckSignal: AbortSignal | undefined;
    t.llm.registerFunction(
      booking,
      async (_a, { clock, signal }) => {
        stuckSignal = signal;
        await clock.sleep(30_000, signal);
        return "never";
      },
      { timeoutMs: 60_000 },
    );
    t.task.queueFrame(new LLMRunFrame());
    await t.clock.runUntil(() => t.llm.functionCallsInFlight === 2 && t.answers() === 1);
    await t.finish();
    expect(t.clock.now()).toBe(1_000);
    const names = t.down.frames.map((f) => f.constructor.name);
    expect(names.indexOf("FunctionCallResultFrame")).toBeLessThan(names.indexOf("EndFrame"));
    expect(names.indexOf("FunctionCallCancelFrame")).toBeLessThan(names.indexOf("EndFrame"));
    expect(t.down.ofType(FunctionCallCancelFrame).map((f) => f.call.toolCallId)).toEqual(["stuck"]);
    expect(stuckSignal!.aborted).toBe(true);
    // The result that came during the end is recorded, not answered: the session is over.
    expect(srv.requests.length).toBe(1);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it("answers an LLMContextFrame and an LLMRunFrame arriving upstream, and does not pass them further upstream", async () => {
    const srv = await server((sse, n) => answer(sse, [`Answer ${n}.`]));
    const t = run(srv, { context: userContext() });
    // Pushed upstream from the far end of the pipeline, as the assistant aggregator does.
    const last = t.llm.next!.next!; // ResultsToContext
    await t.clock.runUntil(() => t.llm.state === "running");
    void last.pushFrame(new LLMContextFrame(userContext("Upstream one")), FrameDirection.UPSTREAM);
    await t.clock.runUntil(() => t.answers() === 1);
    void last.pushFrame(new LLMRunFrame(), FrameDirection.UPSTREAM);
    await t.clock.runUntil(() => t.answers() === 2);
    await t.finish();
    expect(t.texts()).toEqual(["Answer 1.", "Answer 2."]);
    expect((srv.requests[0]!.body["messages"] as { content: string }[]).at(-1)!.content).toBe("Upstream one");
    expect(t.up.frames.filter((f) => f instanceof LLMContextFrame || f instanceof LLMRunFrame)).toEqual([]);
  });

  it("offers registered tools to a context adopted later, unless addToContext is false", async () => {
    const srv = await server((sse) => answer(sse, ["Hi."]));
    const t = run(srv);
    t.llm.registerFunction(weather, () => "x");
    t.llm.registerFunction(clockTool, () => "y", { addToContext: false });
    const adopted = userContext();
    t.task.queueFrame(new LLMContextFrame(adopted));
    await t.clock.runUntil(() => t.answers() === 1);
    await t.finish();
    expect(adopted.tools.map((tool) => tool.name)).toEqual(["get_weather"]);
    expect((srv.requests[0]!.body["tools"] as unknown[]).length).toBe(1);
    expect(t.llm.unregisterFunction("get_weather")).toBe(true);
    expect(adopted.tools).toEqual([]);
    expect(t.llm.unregisterFunction("get_weather")).toBe(false);
  });

  it("an interruption between the answer's end and the launch still cancels the cancellable calls, after their in-progress frames", async () => {
    const gate = deferred();
    const srv = await server(async (sse, n) => {
      if (n > 1) return answer(sse, ["Later."]);
      await gate.promise;
      callsThenText([{ id: "a", name: "get_weather", args: '{"city":"A"}' }])(sse, 1);
    });
    const t = run(srv, { context: userContext() });
    t.llm.registerFunction(weather, async (_a, { clock, signal }) => {
      await clock.sleep(1_000, signal);
      return "ok";
    });
    t.task.queueFrame(new LLMRunFrame());
    await until(() => srv.requests.length === 1);
    // The interruption lands right as the stream ends: whatever the order, the call settles once.
    gate.resolve();
    await until(() => t.down.ofType(FunctionCallsStartedFrame).length === 1, 5_000, "the calls");
    t.task.queueFrame(new InterruptionFrame());
    await t.clock.runUntil(
      () =>
        t.down.ofType(FunctionCallCancelFrame).length + t.down.ofType(FunctionCallResultFrame).length === 1,
    );
    await t.finish();
    const names = t.kinds().filter((n) => n.startsWith("FunctionCall"));
    expect(names).toEqual([
      "FunctionCallsStartedFrame",
      "FunctionCallInProgressFrame",
      "FunctionCallCancelFrame",
    ]);
  });
});

describe("function-call options", () => {
  const make = (extra: object = {}) =>
    new OpenAILLMService({ apiKey: "sk-test", env: {}, model: "gpt-test", ...extra });

  it("refuses an options value that is not an object, and a flag that is not a boolean, saying which and what it takes", () => {
    const llm = make();
    const name = llm.name;
    expect(() => llm.registerFunction(weather, () => 1, null as never)).toThrow(
      new InvalidOptionError(
        `${name}: the options of get_weather must be an object of options, or left out for the defaults (got null)`,
      ),
    );
    expect(() => llm.registerFunction(weather, () => 1, { cancelOnInterruption: "false" as never })).toThrow(
      new InvalidOptionError(
        `${name}: cancelOnInterruption of get_weather must be true or false, or left out for true (got "false")`,
      ),
    );
    expect(() => llm.registerFunction(weather, () => 1, { runLlm: 0 as never })).toThrow(
      /runLlm of get_weather/,
    );
    expect(() => make({ functionCalls: null })).toThrow(/functionCalls must be an object of options/);
    expect(() => make({ functionCalls: { sequential: 1 } })).toThrow(
      /functionCalls\.sequential must be true or false, or left out for false \(got 1\)/,
    );
  });

  it("takes undefined options as the defaults", () => {
    const llm = make({ functionCalls: undefined });
    llm.registerFunction(weather, () => 1, undefined);
    expect(llm.llmContext.tools.map((t) => t.name)).toEqual(["get_weather"]);
  });
});
