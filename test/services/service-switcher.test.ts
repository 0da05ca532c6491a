import { describe, expect, it } from "vitest";
import {
  type Clock,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  MetricsFrame,
  ServiceUpdateSettingsFrame,
  SystemClock,
  VirtualClock,
} from "../../src/index.js";
import { LLMContext } from "../../src/context/index.js";
import type { LLMServiceError } from "../../src/services/llm/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import type { LLMService } from "../../src/services/llm/llm-service.js";
import { LLMSwitcher } from "../../src/services/service-switcher-llm.js";
import { ManuallySwitchServiceFrame } from "../../src/services/service-switcher-frames.js";
import type { ServiceSwitchReason } from "../../src/services/service-switcher.js";
import {
  type LoopbackOpenAI,
  answer,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  until,
} from "./llm/loopback-openai.js";
import { runProcessor } from "./http/run-llm.js";
import { closedAfterEach } from "../support/servers.js";

const server = closedAfterEach(loopbackOpenAI);

function userContext(text = "What's the weather in Paris?"): LLMContext {
  return new LLMContext({ messages: [{ role: "user", content: text }] });
}

function llm(srv: LoopbackOpenAI, name: string, options: { stallTimeoutMs?: number } = {}): OpenAILLMService {
  return new OpenAILLMService({
    name,
    apiKey: "sk-test",
    baseURL: srv.baseURL,
    env: {},
    model: name,
    retryBackoffMs: 0, // a virtual clock that nobody advances must not hold the retry
    ...options,
  });
}

/** A task around a switcher of `services`, with recorders at both ends. */
function run(services: LLMService[], clock: Clock = new VirtualClock()) {
  const switcher = new LLMSwitcher(services, { name: "switcher" });
  const t = runProcessor(switcher, { clock });
  const switches: Array<[string, string, ServiceSwitchReason]> = [];
  switcher.on("switched", (from, to, reason) => void switches.push([from.name, to.name, reason]));
  const texts = (): string[] => t.down.ofType(LLMTextFrame).map((f) => f.text);
  return { ...t, switcher, switches, texts };
}

const ANSWER = ["The ", "weather ", "is fine."];

describe("LLMSwitcher: failover within the turn (real OpenAILLMService, loopback servers)", () => {
  it("answers from the second service when the first returns 500s (after its one retry), once, with nothing of the first pushed", async () => {
    const bad = await server((sse) => sse.error(500, "internal error"));
    const good = await server((sse) => answer(sse, ANSWER));
    const a = llm(bad, "primary");
    const b = llm(good, "backup");
    const t = run([a, b]);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(bad.requests.length).toBe(2); // the service's own retry, then failover
    expect(good.requests.length).toBe(1);
    expect(good.requests[0]!.body["messages"]).toEqual([
      { role: "user", content: "What's the weather in Paris?" },
    ]);
    expect(t.kinds()).toEqual([
      "LLMFullResponseStartFrame",
      "LLMTextFrame",
      "LLMTextFrame",
      "LLMTextFrame",
      "LLMFullResponseEndFrame",
    ]);
    expect(t.texts().join("")).toBe("The weather is fine.");
    expect(t.switches.map(([f, to, r]) => [f, to, r.kind])).toEqual([["primary", "backup", "failover"]]);
    expect(t.switcher.active).toBe(b);
    // The primary's failure is still said (once, not fatal): the operator must know.
    expect(t.errors.map((e) => (e.error as LLMServiceError).failure)).toEqual(["server"]);
    expect(t.errors[0]!.fatal).toBe(false);
    const metrics = t.down.ofType(MetricsFrame).flatMap((m) => m.data);
    expect(new Set(metrics.map((m) => m.processor))).toEqual(new Set(["backup"]));
  });

  it("answers from the second service when the first stalls twice (stallTimeoutMs, real time); both stalled requests are closed", async () => {
    const stalled = await server((sse) => sse.open()); // headers, then nothing
    const good = await server((sse) => answer(sse, ANSWER));
    const t = run([llm(stalled, "primary", { stallTimeoutMs: 80 }), llm(good, "backup")], new SystemClock());
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.down.ofType(LLMFullResponseEndFrame).length === 1, 5_000, "the answer");
    await t.finish();
    expect(stalled.requests.length).toBe(2);
    await until(() => stalled.requests.every((r) => r.closed), 5_000, "the stalled requests closed");
    expect(stalled.requests.every((r) => r.abortedByClient)).toBe(true);
    expect(t.texts()).toEqual(ANSWER);
    expect(t.down.ofType(LLMFullResponseStartFrame).length).toBe(1);
    expect(t.errors.map((e) => (e.error as LLMServiceError).failure)).toEqual(["stalled"]);
  });

  it("fails over from a rejected key, and skips the unusable service for later turns and manual switches", async () => {
    const rejecting = await server((sse) => sse.error(401, "Incorrect API key provided"));
    const good = await server((sse, n) => answer(sse, [`Answer ${n}.`]));
    const a = llm(rejecting, "primary");
    const b = llm(good, "backup");
    const t = run([a, b]);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.texts().length === 1, 5_000, "the first answer");
    t.task.queueFrame(new ManuallySwitchServiceFrame(a)); // refused: a is unusable
    t.task.queueFrame(new LLMContextFrame(userContext("again")));
    await t.finish();
    expect(rejecting.requests.length).toBe(1);
    expect(good.requests.length).toBe(2);
    expect(t.texts()).toEqual(["Answer 1.", "Answer 2."]);
    expect(a.usable).toBe(false);
    expect(t.switcher.active).toBe(b);
    expect(t.switches.length).toBe(1);
  });

  it("a service without a key (unusable from start) fails over at its first request, which never reaches the network", async () => {
    const good = await server((sse) => answer(sse, ["Hi."]));
    const noKey = new OpenAILLMService({ name: "primary", env: {}, model: "m", baseURL: good.baseURL });
    const t = run([noKey, llm(good, "backup")]);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.texts()).toEqual(["Hi."]);
    expect(good.requests.length).toBe(1);
    // The backup answered the request, not the empty context the primary held before it ran.
    expect(good.requests[0]!.body["messages"]).toEqual([
      { role: "user", content: "What's the weather in Paris?" },
    ]);
    expect(t.switches.map(([f, to, r]) => [f, to, r.kind])).toEqual([["primary", "backup", "failover"]]);
  });

  it("does not fail over once text went out: the answer ends where it broke, as with one service", async () => {
    const cut = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Half an"));
      sse.end(); // no finish_reason: a cut stream
    });
    const good = await server((sse) => answer(sse, ANSWER));
    const t = run([llm(cut, "primary"), llm(good, "backup")]);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(good.requests.length).toBe(0);
    expect(t.kinds()).toEqual(["LLMFullResponseStartFrame", "LLMTextFrame", "LLMFullResponseEndFrame"]);
    expect(t.switches).toEqual([]);
  });

  it("tries each service once per request: when all fail, nothing is pushed downstream and each error is said", async () => {
    const bad1 = await server((sse) => sse.error(500, "down"));
    const bad2 = await server((sse) => sse.error(503, "down too"));
    const t = run([llm(bad1, "primary"), llm(bad2, "backup")]);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(bad1.requests.length).toBe(2);
    expect(bad2.requests.length).toBe(2);
    expect(t.kinds()).toEqual([]);
    expect(t.errors.length).toBe(2);
    // The next request starts over from the active service (the backup now), and tries the other.
  });

  it("switches by frame and by method; the next request goes to the chosen service", async () => {
    const one = await server((sse) => answer(sse, ["one"]));
    const two = await server((sse) => answer(sse, ["two"]));
    const a = llm(one, "a");
    const b = llm(two, "b");
    const t = run([a, b]);
    t.task.queueFrame(new ManuallySwitchServiceFrame(b));
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.texts().length === 1);
    expect(t.switcher.switchTo(a)).toBe(true);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await t.finish();
    expect(t.texts()).toEqual(["two", "one"]);
    expect(t.switches.map(([f, to, r]) => [f, to, r.kind])).toEqual([
      ["a", "b", "manual"],
      ["b", "a", "manual"],
    ]);
    // The switch frame was addressed to the switcher: it went no further.
    expect(t.down.ofType(ManuallySwitchServiceFrame)).toEqual([]);
  });

  it("a settings frame reaches the inactive service too, and leaves the switcher once", async () => {
    const srv = await server((sse) => answer(sse, ["x"]));
    const a = llm(srv, "a");
    const b = llm(srv, "b");
    const seen: string[] = [];
    for (const s of [a, b]) {
      const original = s.processFrame.bind(s);
      s.processFrame = (frame, direction, signal) => {
        if (frame instanceof ServiceUpdateSettingsFrame) seen.push(s.name);
        return original(frame, direction, signal);
      };
    }
    const t = run([a, b]);
    t.task.queueFrame(new ServiceUpdateSettingsFrame({ temperature: 0.2 }));
    t.task.queueFrame(new ServiceUpdateSettingsFrame({ temperature: 0.3 }, "b"));
    await t.finish();
    expect(seen.sort()).toEqual(["a", "b", "b"]);
    expect(t.down.ofType(ServiceUpdateSettingsFrame).length).toBe(2);
  });
});

describe("LLMSwitcher: interruption and cancel while either service runs leave nothing running", () => {
  it("an interruption during the primary's retry backoff stops it; the backup is never asked", async () => {
    const bad = await server((sse) => sse.error(503, "busy"));
    const good = await server((sse) => answer(sse, ANSWER));
    const clock = new VirtualClock();
    const a = new OpenAILLMService({
      name: "primary",
      apiKey: "k",
      baseURL: bad.baseURL,
      env: {},
      model: "m",
      retryBackoffMs: 60_000,
    });
    const t = run([a, llm(good, "backup")], clock);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => bad.requests.length === 1 && bad.requests[0]!.closed && clock.pendingTimers > 0);
    t.task.queueFrame(new InterruptionFrame());
    await t.finish();
    expect(bad.requests.length).toBe(1);
    expect(good.requests.length).toBe(0);
    expect(t.kinds()).toEqual(["InterruptionFrame"]);
    expect(t.switches).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("an interruption while the backup answers after a failover closes its request; nothing more is pushed", async () => {
    const bad = await server((sse) => sse.error(500, "down"));
    const held = await server((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Partial"));
    });
    const t = run([llm(bad, "primary"), llm(held, "backup")]);
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => t.texts().length === 1, 5_000, "the backup's first text");
    const mark = t.down.frames.length;
    t.task.queueFrame(new InterruptionFrame());
    await until(() => held.requests[0]!.closed, 5_000, "the backup's request closed");
    await t.finish();
    expect(held.requests[0]!.abortedByClient).toBe(true);
    expect(
      t.down.frames
        .slice(mark)
        .map((f) => f.constructor.name)
        .filter((n) => n !== "EndFrame"),
    ).toEqual(["InterruptionFrame"]);
  });

  for (const point of ["primary waiting", "backup streaming"] as const) {
    it(`cancel while the ${point}: every request closed, no timer pending, nothing pushed after`, async () => {
      const first = await server((sse) => {
        if (point === "primary waiting") return; // never answers
        sse.error(500, "down");
      });
      const second = await server((sse) => {
        sse.send(roleChunk());
        sse.send(textChunk("Partial"));
      });
      const clock = new VirtualClock();
      const t = run([llm(first, "primary"), llm(second, "backup")], clock);
      t.task.queueFrame(new LLMContextFrame(userContext()));
      if (point === "primary waiting") await until(() => first.requests.length === 1, 5_000, "the request");
      else await until(() => t.texts().length === 1, 5_000, "the backup's text");
      const mark = t.down.frames.length;
      await t.task.cancel("test");
      await t.done;
      const all = [...first.requests, ...second.requests];
      await until(() => all.every((r) => r.closed), 5_000, "every request closed");
      expect(clock.pendingTimers).toBe(0);
      expect(clock.pendingRealWork).toBe(0);
      expect(
        t.down.frames
          .slice(mark)
          .map((f) => f.constructor.name)
          .filter((n) => n !== "CancelFrame"),
      ).toEqual([]);
      if (point === "primary waiting") expect(second.requests.length).toBe(0);
    });
  }
});
