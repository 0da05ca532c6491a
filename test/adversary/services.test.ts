/**
 * Adversarial probes of the first concrete services, through the public exports only:
 * `CommandTTSService` (voicepipe), `OpenAILLMService` (voicepipe/openai) and `DeepgramSTTService`
 * (voicepipe/deepgram), against real espeak-ng and the loopback servers of their own tests.
 * Holes are `it.fails` (the body states the promise) with the root cause in a comment above;
 * `held:` tests are attacks that broke nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  CommandTTSService,
  ErrorFrame,
  FrameDirection,
  FunctionCallsStartedFrame,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  Pipeline,
  PipelineTask,
  SystemClock,
  TTSAudioRawFrame,
  TTSSpeakFrame,
  TTSTextFrame,
  VirtualClock,
  espeakNgCommand,
  silentLogger,
} from "../../src/index.js";
import { LLMContext, defineTool } from "../../src/context/index.js";
import { FrameRecorder, runTest } from "../../src/testing/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { DeepgramSTTService } from "../../src/services/deepgram/index.js";
import {
  type LoopbackOpenAI,
  type Responder,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  toolCallChunk,
  until,
} from "../services/llm/loopback-openai.js";
import { type FakeDeepgram, fakeDeepgramListen } from "../services/deepgram/fake-deepgram-listen.js";
import { finish, startSession } from "../services/deepgram/stt-session.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function openai(respond: Responder): Promise<LoopbackOpenAI> {
  const s = await loopbackOpenAI(respond);
  cleanups.push(() => s.close());
  return s;
}

async function deepgram(): Promise<FakeDeepgram> {
  const s = await fakeDeepgramListen();
  cleanups.push(() => s.close());
  return s;
}

function childHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "ProcessWrap" || r === "PipeWrap").length;
}

// ---------------------------------------------------------------- settings at construction

describe("adversary: odd settings at construction", () => {
  // HOLE: `new DeepgramSTTService({ endpointing: NaN })` (and -1, Infinity) is accepted and the
  // URL carries `endpointing=NaN`; the bad setting surfaces, if at all, as the provider's 400 at
  // the upgrade, not as an error naming the option. Root cause: stt.ts copies `endpointing` and
  // `utteranceEndMs` into the query with `String(…)` and never checks them (closeTimeoutMs, beside
  // them, goes through positiveMs).
  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])(
    "DeepgramSTTService refuses endpointing = %s at construction",
    (v) => {
      expect(() => new DeepgramSTTService({ apiKey: "k", endpointing: v })).toThrow(/endpointing/);
    },
  );

  // HOLE: the same for utteranceEndMs (NaN, 0, -1 go into `utterance_end_ms=` as they are).
  it.each([Number.NaN, 0, -1])("DeepgramSTTService refuses utteranceEndMs = %s at construction", (v) => {
    expect(() => new DeepgramSTTService({ apiKey: "k", utteranceEndMs: v })).toThrow(/utteranceEndMs/);
  });

  // HOLE: keepAliveIntervalMs and socket.connectTimeoutMs (NaN, 0, -1, Infinity) are accepted by
  // the constructor; the ProviderSocket refuses them only when it is built inside `connect()` at
  // StartFrame, so the mistake is a failed start instead of a throw where the option was written.
  // Root cause: stt.ts passes them through to ProviderSocket without validating them up front
  // (its own closeTimeoutMs/startWaitMs are validated in the constructor).
  it.each([Number.NaN, 0, -1])("DeepgramSTTService refuses keepAliveIntervalMs = %s at construction", (v) => {
    expect(() => new DeepgramSTTService({ apiKey: "k", keepAliveIntervalMs: v })).toThrow(
      /keepAliveIntervalMs/,
    );
  });

  // HOLE: `CommandTTSService({ sampleRate })` has a floor (1000 Hz) but no ceiling: 4e6 or 1e9 is
  // accepted, and the task then fails at StartFrame with a fatal error that names the resampler's
  // parameter, not the option: "outRate must be an integer sample rate in Hz between 1000 and
  // 768000 (got 1000000000)…" (measured). Root cause: tts-service.ts checks `sampleRate < 1000`
  // only; the upper bound is left to createStreamResampler at start (the STT options check both).
  it("CommandTTSService refuses sampleRate = 1e9 at construction", () => {
    expect(() => new CommandTTSService({ command: espeakNgCommand(), sampleRate: 1e9 })).toThrow(
      /sampleRate/,
    );
  });

  // held: every TTS and LLM timing refuses 0, NaN, -1, Infinity with the option's name.
  it.each([0, Number.NaN, -1, Number.POSITIVE_INFINITY])("held: TTS and LLM timings refuse %s", (v) => {
    const cmd = espeakNgCommand();
    for (const key of [
      "stallTimeoutMs",
      "synthesisTimeoutMs",
      "connectTimeoutMs",
      "releaseTimeoutMs",
      "exitTimeoutMs",
    ]) {
      expect(() => new CommandTTSService({ command: cmd, [key]: v })).toThrow(new RegExp(key));
    }
    expect(() => new CommandTTSService({ command: cmd, maxSentenceChars: v })).toThrow(/maxChars/);
    expect(() => new OpenAILLMService({ apiKey: "k", stallTimeoutMs: v })).toThrow(/stallTimeoutMs/);
    expect(() => espeakNgCommand({ wordsPerMinute: v })).toThrow(/wordsPerMinute/);
    if (v !== 0) {
      expect(() => new OpenAILLMService({ apiKey: "k", retryBackoffMs: v })).toThrow(/retryBackoffMs/);
      expect(() => new OpenAILLMService({ apiKey: "k", maxRetryWaitMs: v })).toThrow(/maxRetryWaitMs/);
    }
  });
});

// ---------------------------------------------------------------- OpenAILLMService

function runLLM(srv: LoopbackOpenAI, clock = new VirtualClock()) {
  const llm = new OpenAILLMService({ apiKey: "sk-test", baseURL: srv.baseURL, env: {}, model: "gpt-test" });
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  const down = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([up, llm, down]), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
  });
  const errors: ErrorFrame[] = [];
  task.on("pipelineError", (e) => void errors.push(e));
  const done = task.run();
  return { llm, up, down, task, errors, done, clock };
}

const weather = defineTool({
  name: "get_weather",
  description: "weather",
  parameters: { type: "object", properties: { city: { type: "string" } } },
});

describe("adversary: OpenAILLMService against a hostile chat-completions server", () => {
  // HOLE: a tool call whose argument text never stops growing is held whole. 16 MiB of argument
  // fragments (16,384 × 1 KiB, each arriving well inside stallTimeoutMs) are all kept, joined and
  // parsed, and the call is recorded in the context and broadcast (measured: 0 errors, arguments
  // of 16,777,227 characters in FunctionCallsStartedFrame). Endless,
  // it grows until the process runs out of memory. Root cause: ToolCallAssembler.add pushes every
  // `arguments` fragment into `args` with no limit on their total (only the number of calls,
  // MAX_TOOL_CALLS, is bounded).
  it("refuses a tool call whose arguments pass a bound (16 MiB sent)", async () => {
    const kib = "x".repeat(1024);
    const srv = await openai((sse) => {
      sse.send(roleChunk());
      sse.send(toolCallChunk({ index: 0, id: "call_a", name: "get_weather", arguments: '{"city":"' }));
      for (let i = 0; i < 16 * 1024; i++) sse.send(toolCallChunk({ index: 0, arguments: kib }));
      sse.send(toolCallChunk({ index: 0, arguments: '"}' }));
      sse.send(finishChunk("tool_calls"));
      sse.done();
    });
    const t = runLLM(srv);
    const context = new LLMContext({ messages: [{ role: "user", content: "hi" }], tools: [weather] });
    t.task.queueFrame(new LLMContextFrame(context));
    await t.clock.runUntil(() => t.down.ofType(LLMFullResponseEndFrame).length > 0 || t.errors.length > 0, {
      maxMs: 60_000,
    });
    void t.task.stopWhenDone();
    await t.clock.runUntil(t.done);
    const calls = t.down.ofType(FunctionCallsStartedFrame).flatMap((f) => f.calls);
    const longest = Math.max(0, ...calls.map((c) => JSON.stringify(c.arguments).length));
    expect({ errors: t.errors.length, longestArgs: longest }).toEqual({ errors: 1, longestArgs: 0 });
  }, 60_000);

  // held: an interruption storm while an answer streams: every request is closed, nothing of an
  // interrupted answer comes out after the last interruption, and nothing is left pending.
  it("held: 30 interruptions, each followed by a new context, while answers stream", async () => {
    const srv = await openai((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk(`answer ${sse.request.n} `)); // then hold the stream open
    });
    const t = runLLM(srv, new VirtualClock());
    for (let i = 0; i < 30; i++) {
      t.task.queueFrame(
        new LLMContextFrame(new LLMContext({ messages: [{ role: "user", content: `q${i}` }] })),
      );
      t.task.queueFrame(new InterruptionFrame());
    }
    const last = srv.requests.length;
    await t.clock.runUntil(() => t.down.frames.length > 0, { maxMs: 1000 }).catch(() => {});
    await t.task.cancel();
    await t.clock.runUntil(t.done);
    await until(() => srv.requests.every((r) => r.closed), 5_000, "every request closed");
    expect(srv.requests.length).toBeLessThanOrEqual(31);
    expect(last).toBeLessThanOrEqual(31);
    expect(t.clock.pendingTimers).toBe(0);
    expect(t.errors.filter((e) => e.fatal)).toEqual([]);
  });
});

// ---------------------------------------------------------------- DeepgramSTTService

describe("adversary: DeepgramSTTService against a hostile /v1/listen", () => {
  // HOLE: a provider that sends unknown message types, each with its own name, gets one
  // ErrorFrame per name (measured: 65 ErrorFrames for 200 names, until the reporter's 64-cause cap folds the rest into
  // "other"), not one for the kind of problem. Root cause: stt.ts keys reportMalformed by
  // `type:${message.name}`, a string the server chooses.
  it("says an unknown message type once, however many different names the server invents", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    await until(() => server.connections.length === 1, 5_000, "a connection");
    for (let i = 0; i < 200; i++) server.connections[0]!.ws.send(JSON.stringify({ type: `Made-up-${i}` }));
    await until(() => s.stt.stats.malformedMessages === 200, 5_000, "200 malformed messages");
    void s.task.stopWhenDone();
    await finish(s);
    expect(s.up.ofType(ErrorFrame).length).toBe(1);
  });

  // HOLE: the name of an unknown type goes into the error message whole: a 1 MB `type` makes a
  // 1 MB error message (and a 1 MB reporter key). Root cause: stt-messages.ts quotes (and cuts at
  // 120 characters) the text of JSON/shape problems, but returns `name` for "Other" uncut, and
  // stt.ts puts it into both the cause key and the message.
  it("keeps the error about a huge unknown type short", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    await until(() => server.connections.length === 1, 5_000, "a connection");
    server.connections[0]!.ws.send(JSON.stringify({ type: "T".repeat(1_000_000) }));
    await until(() => s.stt.stats.malformedMessages === 1, 5_000, "the malformed message");
    void s.task.stopWhenDone();
    await finish(s);
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message.length).toBeLessThan(1_000);
  });

  // held: a flood of one kind of malformed message gives one error; the rest are counted.
  it("held: 200 malformed messages of one kind give one error, counted", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    await until(() => server.connections.length === 1, 5_000, "a connection");
    for (let i = 0; i < 200; i++) server.connections[0]!.ws.send(`not json ${i}`);
    await until(() => s.stt.stats.malformedMessages === 200, 5_000, "200 malformed messages");
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    expect(s.up.ofType(ErrorFrame)).toHaveLength(1);
  });

  // held: cancel right after the task starts (the socket still connecting), on the system clock.
  it("held: cancel right after start leaves no socket", async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl }, {}, new SystemClock());
    await s.task.cancel();
    expect((await s.finished).how).toBe("cancelled");
    await server.close();
    cleanups.length = 0;
    await until(
      () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length <= before,
      2_000,
      "sockets closed",
    );
  });
});

// ---------------------------------------------------------------- CommandTTSService

describe("adversary: CommandTTSService with espeak-ng", () => {
  // held: text that is empty, blank, only markdown or only control characters: no error, no
  // crash, text frames still out, nothing left running.
  it.each([
    ["empty", ""],
    ["blank", "  \n\t "],
    ["only a code block", "```\ncode\n```"],
    ["only marks", "**__~~``~~__**"],
    ["control characters", "\u0000\u0001\u0007\u001b[31m\u007f"],
    ["lone surrogates", "\ud800\udfff\ud800"],
    ["an option-like text", "-v --help"],
  ])("held: %s", async (_name, text) => {
    const before = childHandles();
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const { up } = await runTest(tts, {
      framesToSend: [
        new TTSSpeakFrame(text),
        new LLMFullResponseStartFrame(),
        new LLMTextFrame(text),
        new LLMFullResponseEndFrame(),
      ],
    });
    expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]);
    expect(childHandles()).toBe(before);
  });

  // held: a 2,000-sentence TTSSpeakFrame interrupted after its first audio: the runs stop at once
  // (no run starts after the interruption, the one in flight is killed), nothing stale comes out.
  it("held: interrupting a huge TTSSpeakFrame stops its runs at once", async () => {
    const before = childHandles();
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    let runs = 0;
    tts.on("processStarted", () => void runs++);
    const clock = new VirtualClock();
    const down = new FrameRecorder();
    const task = new PipelineTask(new Pipeline([tts, down]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    let started = false;
    task.on("pipelineStarted", () => void (started = true));
    const done = task.run();
    await clock.runUntil(() => started);
    task.queueFrame(new TTSSpeakFrame("This is one sentence. ".repeat(2_000)));
    // Real-time polls: the virtual clock stands still while espeak-ng runs (tracked real work).
    await until(() => down.ofType(TTSAudioRawFrame).length > 0, 10_000, "the first audio");
    task.queueFrame(new InterruptionFrame());
    await until(() => down.ofType(InterruptionFrame).length > 0, 10_000, "the interruption");
    const runsAtInterruption = runs;
    const mark = down.frames.length;
    await new Promise((r) => setTimeout(r, 300)); // real time for a run that was not stopped to show
    void task.stopWhenDone();
    await clock.runUntil(done);
    expect(runs - runsAtInterruption).toBe(0);
    expect(runsAtInterruption).toBeLessThanOrEqual(3); // the check, the first sentence, maybe the next
    expect(
      down.frames.slice(mark).filter((f) => f instanceof TTSAudioRawFrame || f instanceof TTSTextFrame),
    ).toEqual([]);
    expect(childHandles()).toBe(before);
  }, 30_000);

  // held: cancel right after start, while the start-up check runs: no process or pipe is left.
  it("held: cancel right after start kills the start-up check", async () => {
    const before = childHandles();
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const clock = new SystemClock();
    const task = new PipelineTask(new Pipeline([tts]), { clock, logger: silentLogger, idleTimeoutMs: null });
    const done = task.run();
    await new Promise((r) => setImmediate(r));
    await task.cancel();
    expect((await done).how).toBe("cancelled");
    expect(childHandles()).toBe(before);
  });

  // held: an interruption storm over a long answer: no audio or sentence text of the old
  // answer after the last interruption, nothing left running.
  it("held: 20 interruptions while sentences are being spoken", async () => {
    const before = childHandles();
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const clock = new VirtualClock();
    const down = new FrameRecorder();
    const task = new PipelineTask(new Pipeline([tts, down]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    let started = false;
    task.on("pipelineStarted", () => void (started = true));
    const done = task.run();
    await clock.runUntil(() => started);
    for (let i = 0; i < 20; i++) {
      task.queueFrame(new LLMFullResponseStartFrame());
      task.queueFrame(new LLMTextFrame(`Old sentence number ${i} is here. And another one. `));
      task.queueFrame(new InterruptionFrame());
    }
    await clock.settle();
    const mark = down.frames.length;
    task.queueFrame(new TTSSpeakFrame("Fresh."));
    void task.stopWhenDone();
    await clock.runUntil(done);
    const after = down.frames.slice(mark);
    const texts = after.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame).map((f) => f.text);
    expect(texts).toEqual(["Fresh."]);
    expect(after.some((f) => f instanceof TTSAudioRawFrame)).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    expect(childHandles()).toBe(before);
  }, 30_000);
});
