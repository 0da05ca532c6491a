/**
 * Adversary probes of function calling (docs/design/function-calls.md, docs/design/conversation.md,
 * the TSDoc of `LLMService.registerFunction`) through the public API only: the real
 * `OpenAILLMService` against a loopback chat-completions server (test/services/llm/loopback-openai.ts),
 * the real `LLMContextAggregatorPair`, `Pipeline`, `PipelineTask`, `FrameRecorder`, on a `SystemClock`
 * with real sockets. Every wait has a deadline.
 *
 * `broken:` a promise that does not hold today (the test fails; the comment above it says what happens
 * instead, how it was measured, and where the cause is). `held:` an attack that did not break anything.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  type ErrorFrame,
  FrameProcessor,
  FunctionCallCancelFrame,
  FunctionCallResultFrame,
  InterruptionFrame,
  InvalidOptionError,
  LLMContext,
  LLMContextAggregatorPair,
  LLMContextError,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMRunFrame,
  Pipeline,
  PipelineTask,
  SystemClock,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  defineTool,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { OpenAILLMService, type OpenAILLMServiceOptions } from "../../src/services/llm/openai/index.js";
import {
  type SseWriter,
  answer,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  toolCallChunk,
  until,
} from "../services/llm/loopback-openai.js";
import { memoryLogger } from "../support/logger.js";
import { closedAfterEach } from "../support/servers.js";

const server = closedAfterEach(loopbackOpenAI);

// ------------------------------------------------------------------------------------------------
// Harness

const weather = defineTool({
  name: "get_weather",
  description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
});
const booking = defineTool({
  name: "book_table",
  description: "Books a table",
  parameters: { type: "object", properties: { people: { type: "integer" } }, required: ["people"] },
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Whether `predicate` comes true within `ms` (no throw: for "this never happens" checks). */
async function within(predicate: () => boolean, ms: number): Promise<boolean> {
  return until(predicate, ms).then(
    () => true,
    () => false,
  );
}

interface ScriptedCall {
  readonly id: string;
  readonly name: string;
  readonly args: string;
}

/** Streams one answer: optional text, then the tool calls (one fragment each), finish "tool_calls". */
function toolCalls(sse: SseWriter, calls: readonly ScriptedCall[], text?: string): void {
  sse.send(roleChunk());
  if (text) sse.send(textChunk(text));
  calls.forEach((c, index) => sse.send(toolCallChunk({ index, id: c.id, name: c.name, arguments: c.args })));
  sse.send(finishChunk("tool_calls"));
  sse.done();
}

/** A queued pass-through processor: stands where the TTS and the output transport sit. */
class Queued extends FrameProcessor {
  constructor() {
    super({ name: "QueuedStage" });
  }
}

/**
 * A bot: user aggregator → OpenAI LLM → [a queued stage] → recorder → assistant aggregator, on the
 * system clock. `queued: false` is a text bot's layout (the assistant aggregator straight after the
 * LLM); `true` puts a queued processor in between, as the TTS and output transport are.
 */
function bot(baseURL: string, options: { queued?: boolean; llm?: Partial<OpenAILLMServiceOptions> } = {}) {
  const context = new LLMContext({
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
    ],
  });
  const pair = new LLMContextAggregatorPair(context);
  const llm = new OpenAILLMService({
    apiKey: "sk-test",
    baseURL,
    env: {},
    model: "gpt-test",
    context,
    ...options.llm,
  });
  const down = new FrameRecorder();
  const { logger, lines } = memoryLogger();
  const task = new PipelineTask(
    new Pipeline([pair.user(), llm, ...(options.queued ? [new Queued()] : []), down, pair.assistant()]),
    { clock: new SystemClock(), logger, idleTimeoutMs: null },
  );
  const errors: ErrorFrame[] = [];
  task.on("pipelineError", (e) => void errors.push(e));
  let ended = false;
  const done = task.run().finally(() => (ended = true));
  /** Cancels the task and waits (at most 5 s) for run() to resolve. */
  async function stop(): Promise<void> {
    void task.cancel();
    await until(() => ended, 5_000, "task.run() to resolve after cancel");
  }
  const count = (type: abstract new (...a: never[]) => unknown): number =>
    down.frames.filter((f) => f instanceof type).length;
  return { context, pair, llm, down, task, errors, done, lines, stop, count, isEnded: () => ended };
}
type Bot = ReturnType<typeof bot>;

const running: Bot[] = [];
function started(b: Bot): Bot {
  running.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => (b.isEnded() ? undefined : b.stop())));
});

/** A user turn as the turn processor and STT send it: start, interruption, words, stop. */
function userTurn(b: Bot, words: string): void {
  b.task.queueFrame(new UserStartedSpeakingFrame());
  b.task.queueFrame(new InterruptionFrame());
  b.task.queueFrame(new TranscriptionFrame(words, "user", 0));
  b.task.queueFrame(new UserStoppedSpeakingFrame());
}

type WireMessage = {
  role: string;
  content: unknown;
  tool_calls?: { id: string; function: { name: string } }[];
  tool_call_id?: string;
};

/**
 * What makes an OpenAI chat-completions request body an invalid conversation: a tool message that
 * answers no call of the assistant message just before it, a call without its tool message before
 * the next message, a tool call id used twice. Empty when valid.
 */
function conversationProblems(body: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const messages = body["messages"] as WireMessage[];
  const ids = new Set<string>();
  let expected: string[] = [];
  for (const [i, m] of messages.entries()) {
    if (m.role === "tool") {
      if (!expected.includes(m.tool_call_id!))
        problems.push(`messages[${i}]: tool message ${m.tool_call_id} answers no pending call`);
      expected = expected.filter((id) => id !== m.tool_call_id);
      if (typeof m.content !== "string") problems.push(`messages[${i}]: tool content is not text`);
      continue;
    }
    if (expected.length > 0) problems.push(`messages[${i}]: calls ${expected.join(",")} have no result`);
    expected = [];
    for (const c of m.tool_calls ?? []) {
      if (ids.has(c.id)) problems.push(`messages[${i}]: tool call id ${c.id} used twice`);
      ids.add(c.id);
      expected.push(c.id);
    }
  }
  if (expected.length > 0) problems.push(`end: calls ${expected.join(",")} have no result`);
  return problems;
}

const systemNotes = (context: LLMContext): string[] =>
  context.messages
    .slice(1)
    .filter((m) => m.role === "system")
    .map((m) => String(m.content));

// ------------------------------------------------------------------------------------------------

describe("tool call ids the model sends", () => {
  // BROKEN. Some OpenAI-compatible servers number their calls per answer ("call_0" every time); the
  // id comes from the model and is not checked. Measured: the first round works; in the second
  // answer (the model asks again with id "call_0") the service throws: one ErrorFrame
  // `ProcessorError: OpenAILLMService#N threw while processing LLMContextFrame#M: tool call id
  // "call_0" is already in the context; each call needs a new id`, the LLMFullResponseStartFrame it
  // pushed is never closed by an LLMFullResponseEndFrame, the call is never run nor answered, and the
  // model is never asked again: the bot goes silent in the middle of the user's request.
  // Root cause: LLMService.#finish (src/services/llm/llm-service.ts) calls
  // `context.recordToolCalls(...)` with the model's ids as they came (ToolCallAssembler.finish only
  // invents an id when there is none) and does not catch the LLMContextError it throws. Fix: give a
  // call whose id is already in the context (or repeated in the answer) a fresh one, as finish()
  // does for a missing id, or fail the answer as "malformed" through #fail and close the response.
  it("fixed: a model that reuses a tool call id from an earlier answer gets its second call run and answered", async () => {
    const srv = await server((sse, n) =>
      n <= 2
        ? toolCalls(sse, [{ id: "call_0", name: "get_weather", args: '{"city":"Paris"}' }])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    let ran = 0;
    b.llm.registerFunction(weather, ({ city }) => ({ city, temp: 20 + ++ran }));
    b.task.queueFrame(new LLMRunFrame());
    const third = await within(() => srv.requests.length >= 3, 3_000);
    await sleep(100); // anything more (an error, a fourth request) would show
    // And until the third answer is out and every response closed (the 100 ms alone assumed it
    // was by then); one left open fails below once the wait gives up.
    const closed = (): boolean => b.count(LLMFullResponseStartFrame) === b.count(LLMFullResponseEndFrame);
    await within(() => b.count(LLMFullResponseEndFrame) >= 3 && closed(), 3_000);
    expect({
      errors: b.errors.map((e) => `${e.error?.name}: ${e.error?.message}`),
      responsesLeftOpen: b.count(LLMFullResponseStartFrame) - b.count(LLMFullResponseEndFrame),
      handlerRuns: ran,
      modelAskedAgain: third,
    }).toEqual({ errors: [], responsesLeftOpen: 0, handlerRuns: 2, modelAskedAgain: true });
    for (const r of srv.requests) expect(conversationProblems(r.body), `request ${r.n}`).toEqual([]);
  });

  // BROKEN. Same root cause, inside one answer: two parallel calls with one id (a buggy or
  // hostile server). Measured: ErrorFrame `ProcessorError: … messages[2].tool_calls holds two calls
  // with the same id; each call needs its own id`, an LLMFullResponseStartFrame never closed, neither
  // call run, the model never answered. Root cause: LLMService.#finish → LLMContext.recordToolCalls
  // (parseLLMMessage refuses the message) with nothing catching it; ToolCallAssembler.finish keys the
  // calls by index and never checks that their ids differ.
  it("fixed: two calls of one answer with the same id are both run and answered, or the answer is refused cleanly", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [
            { id: "dup", name: "get_weather", args: '{"city":"Paris"}' },
            { id: "dup", name: "get_weather", args: '{"city":"Rome"}' },
          ])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    b.llm.registerFunction(weather, ({ city }) => city);
    b.task.queueFrame(new LLMRunFrame());
    await within(() => srv.requests.length >= 2, 2_000);
    await sleep(100); // anything more would show
    // And until the answer to the results is out and every response closed (the 100 ms alone
    // assumed it was by then); one left open fails below once the wait gives up.
    await within(
      () =>
        b.count(LLMFullResponseEndFrame) >= 2 &&
        b.count(LLMFullResponseStartFrame) === b.count(LLMFullResponseEndFrame),
      2_000,
    );
    expect({
      processorErrors: b.errors
        .map((e) => `${e.error?.name}: ${e.error?.message}`)
        .filter((m) => m.startsWith("ProcessorError")),
      responsesLeftOpen: b.count(LLMFullResponseStartFrame) - b.count(LLMFullResponseEndFrame),
    }).toEqual({ processorErrors: [], responsesLeftOpen: 0 });
    for (const r of srv.requests) expect(conversationProblems(r.body), `request ${r.n}`).toEqual([]);
  });
});

describe("what a hostile server can put in a call's name", () => {
  // BROKEN. The assembler bounds one answer's argument text (MAX_TOOL_ARGUMENTS_CHARS, 1 MiB: "a
  // stream that keeps adding more would otherwise be held until the process runs out of memory"),
  // and a result may have at most MAX_RESULT_CHARS (100,000) characters; a tool name is at most 64
  // characters (checkFunctionSchema), so a longer one can never name a registered function. Measured:
  // one call named with 300,000 characters (one SSE event, well under the 4 MiB event bound) is
  // recorded whole in the context's tool_calls, answered with an "unknown function" result of
  // 300,063 characters that quotes it whole, and logged in one 300,088-character warn line; with a
  // 300,000-character id as well the context grew by 1.2 million characters from one answer, and
  // up to 128 such calls per answer (each in its own event) are taken. Every later request carries it.
  // Root cause: ToolCallAssembler.add (src/services/llm/tool-call-assembler.ts) counts only argument
  // characters, not names and ids; FunctionCallRunner.#plan (unknownFunctionResult,
  // src/services/llm/function-calls/call-results.ts) quotes the name uncut and the runner applies
  // MAX_RESULT_CHARS to handler results only.
  it("fixed: a 300,000-character unknown tool name does not reach the context or the log whole", async () => {
    const name = "n".repeat(300_000);
    const srv = await server((sse, n) =>
      n === 1 ? toolCalls(sse, [{ id: "huge", name, args: "{}" }]) : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    b.llm.registerFunction(weather, () => "sunny");
    b.task.queueFrame(new LLMRunFrame());
    await until(() => srv.requests.length >= 2, 5_000, "the answer to the unknown call");
    const result = b.context.messages.find((m) => m.role === "tool" && m.tool_call_id === "huge");
    expect({
      resultChars: String(result?.content).length <= 100_000,
      contextChars: JSON.stringify(b.context.messages).length <= 100_000,
      longestLogLine: Math.max(0, ...b.lines.map((l) => l.message.length)) <= 10_000,
    }).toEqual({ resultChars: true, contextChars: true, longestLogLine: true });
  });
});

// ------------------------------------------------------------------------------------------------

describe("results that come after an interruption (cancelOnInterruption: false)", () => {
  // BROKEN. docs/design/function-calls.md, "Interruption": a call with cancelOnInterruption: false
  // keeps running; "the assistant aggregator records it in the context … and asks for an answer if
  // the user is not speaking". Measured with the assistant aggregator right after the LLM (a text
  // bot; only direct processors in between): the result is recorded ("booked" in the tool message),
  // the group settles, the aggregator pushes its LLMContextFrame upstream, and the frame is dropped
  // as stale (debug line "LLMAssistantAggregator#N: dropped LLMContextFrame#M, pushed by work of an
  // interrupted turn"); the LLM is never asked: 1 request in 3 s, the user never hears the booking.
  // With a queued processor between them (next test) the same result is answered.
  // Root cause: the result frame is pushed from the handler's continuation, which runs in the
  // async context (turnStore) of the LLM's interrupted turn; the direct aggregator's
  // LLMAssistantAggregator.#requestRun (src/processors/aggregators/llm-assistant-aggregator.ts)
  // pushes inside that context, and FrameProcessor.pushFrame drops a non-system frame pushed by an
  // ended turn. The owed-timer path already leaves the turn (`turnStore.exit`); #requestRun (or
  // FunctionCallRunner.#settle's broadcast) must too.
  it("fixed: the aggregator right after the LLM: a kept call's result after an interruption is answered", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [{ id: "k", name: "book_table", args: '{"people":2}' }])
        : answer(sse, [`Booked, ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    const release = gate();
    b.llm.registerFunction(
      booking,
      async () => {
        await release.promise;
        return "booked";
      },
      { cancelOnInterruption: false },
    );
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.functionCallsInFlight === 1, 3_000, "the call to run");
    b.task.queueFrame(new InterruptionFrame()); // a barge-in whose turn adds no words (a cough)
    await until(() => b.count(InterruptionFrame) === 1, 3_000, "the interruption");
    release.open();
    await until(() => b.context.toolCallStatus("k") === "completed", 3_000, "the result");
    const answered = await within(() => srv.requests.length >= 2, 3_000);
    expect({ answered, requests: srv.requests.length }).toEqual({ answered: true, requests: 2 });
  });

  it("held: with a queued stage (TTS, output) between LLM and aggregator, the same late result is answered once", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [{ id: "k", name: "book_table", args: '{"people":2}' }])
        : answer(sse, [`Booked, ${n}.`]),
    );
    const b = started(bot(srv.baseURL, { queued: true }));
    const release = gate();
    b.llm.registerFunction(
      booking,
      async () => {
        await release.promise;
        return "booked";
      },
      { cancelOnInterruption: false },
    );
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.functionCallsInFlight === 1, 3_000, "the call to run");
    b.task.queueFrame(new InterruptionFrame());
    await until(() => b.count(InterruptionFrame) === 1, 3_000, "the interruption");
    release.open();
    await until(() => srv.requests.length >= 2, 3_000, "the answer to the late result");
    await sleep(200);
    expect(srv.requests.length).toBe(2);
    expect(conversationProblems(srv.requests[1]!.body)).toEqual([]);
    const tool = (srv.requests[1]!.body["messages"] as WireMessage[]).find((m) => m.tool_call_id === "k");
    expect(tool?.content).toBe("booked");
  });

  // BROKEN. LLMContext.recordToolResult's TSDoc: "When the conversation had moved past the call (a
  // late result), a system note saying the result arrived is appended". Sequence: call k
  // (book_table, kept, runLlm: false) runs; the user interrupts and asks about the weather; the model
  // calls w (get_weather); k's result arrives while w runs (late: a note is appended, after w's
  // placeholder); then w's own, timely, result arrives. Measured: w's result is taken as late too:
  // a second note "The result of the earlier get_weather call (w) has arrived; it is now in that
  // call's tool message above." — w is the call the model just made, not an earlier one, and the
  // model is told so. Every call of an answer still running when some older result lands gets such a
  // note. (It also ends "the words said before a tool call" merge for that answer: the played text
  // no longer finds its calls at the end of the context.)
  // Root cause: findToolCall (src/context/tool-call-records.ts) sets `movedOn` when any non-tool
  // message follows the call's results, including the system note of another call's late result;
  // recordToolResult appends its note at the very end, behind newer calls' placeholders.
  it("fixed: a timely result recorded after another call's late note is not called late", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) return toolCalls(sse, [{ id: "k", name: "book_table", args: '{"people":2}' }]);
      if (n === 2) return toolCalls(sse, [{ id: "w", name: "get_weather", args: '{"city":"Rome"}' }]);
      answer(sse, [`Done ${n}.`]);
    });
    const b = started(bot(srv.baseURL, { queued: true }));
    const releaseK = gate();
    b.llm.registerFunction(
      booking,
      async () => {
        await releaseK.promise;
        return "booked";
      },
      { cancelOnInterruption: false, runLlm: false },
    );
    b.llm.registerFunction(weather, async () => {
      releaseK.open();
      await until(() => b.context.toolCallStatus("k") === "completed", 3_000, "k's result");
      return "sunny";
    });
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.functionCallsInFlight === 1, 3_000, "k to run");
    userTurn(b, "and the weather in Rome?");
    await until(() => srv.requests.length >= 3, 5_000, "the answer to w");
    expect(b.context.toolCallStatus("w")).toBe("completed");
    expect(systemNotes(b.context)).toEqual([
      "The result of the earlier book_table call (k) has arrived; it is now in that call's tool message above.",
    ]);
  });

  it("held: a result that comes while the user speaks is carried by the user's turn: one answer, with the result and the words", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [{ id: "k", name: "book_table", args: '{"people":2}' }], "Booking.")
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    const release = gate();
    b.llm.registerFunction(
      booking,
      async () => {
        await release.promise;
        return "booked";
      },
      { cancelOnInterruption: false },
    );
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.functionCallsInFlight === 1, 3_000, "the call to run");
    b.task.queueFrame(new UserStartedSpeakingFrame());
    b.task.queueFrame(new InterruptionFrame());
    await until(() => b.count(InterruptionFrame) === 1, 3_000, "the interruption");
    release.open();
    await until(() => b.context.toolCallStatus("k") === "completed", 3_000, "the result");
    await sleep(100);
    expect(srv.requests.length).toBe(1); // not answered while the user speaks
    b.task.queueFrame(new TranscriptionFrame("and for four?", "user", 0));
    b.task.queueFrame(new UserStoppedSpeakingFrame());
    await until(() => srv.requests.length >= 2, 3_000, "the user's turn");
    await sleep(1_600); // past userTurnWaitMs: the owed run must not come as well
    expect(srv.requests.length).toBe(2);
    const sent = srv.requests[1]!.body["messages"] as WireMessage[];
    expect(sent.find((m) => m.tool_call_id === "k")?.content).toBe("booked");
    expect(sent.at(-1)).toMatchObject({ role: "user", content: "and for four?" });
    expect(conversationProblems(srv.requests[1]!.body)).toEqual([]);
  });

  it("held: 50 parallel calls, a barge-in while their results come, then the user's turn: each settles once, every request is a valid conversation", async () => {
    const calls = Array.from({ length: 50 }, (_, i) =>
      i % 2
        ? { id: `p${i}`, name: "book_table", args: '{"people":2}' }
        : { id: `p${i}`, name: "get_weather", args: '{"city":"X"}' },
    );
    const srv = await server((sse, n) =>
      n === 1 ? toolCalls(sse, calls, "Let me check.") : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL, { queued: true }));
    const cancelled: string[] = [];
    const delay = (id: string): number => 8 * Number(id.slice(1));
    b.llm.registerFunction(weather, async (_a, { signal, call }) => {
      signal.addEventListener("abort", () => void cancelled.push(call.toolCallId));
      await sleep(delay(call.toolCallId));
      return "sunny";
    });
    b.llm.registerFunction(
      booking,
      async (_a, { call }) => {
        await sleep(delay(call.toolCallId));
        return "booked";
      },
      { cancelOnInterruption: false },
    );
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.count(FunctionCallResultFrame) >= 10, 5_000, "ten results");
    userTurn(b, "never mind");
    await until(() => b.llm.functionCallsInFlight === 0, 5_000, "every call to settle");
    await until(() => b.pair.assistant().openFunctionCalls === 0, 5_000, "every group to close");
    await sleep(300);
    const settled = [
      ...b.down.ofType(FunctionCallResultFrame).map((f) => f.call.toolCallId),
      ...b.down.ofType(FunctionCallCancelFrame).map((f) => f.call.toolCallId),
    ];
    expect(settled.length).toBe(50);
    expect(new Set(settled).size).toBe(50);
    expect(
      b.down
        .ofType(FunctionCallCancelFrame)
        .map((f) => f.call.toolCallId)
        .sort(),
    ).toEqual([...cancelled].sort());
    for (const id of cancelled) expect(Number(id.slice(1)) % 2).toBe(0); // only cancellable ones
    for (const r of srv.requests) expect(conversationProblems(r.body), `request ${r.n}`).toEqual([]);
    expect(b.context.messages.filter((m) => m.role === "tool" && m.status === "in_progress")).toEqual([]);
    expect(b.errors).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------

describe("end, timeout, unregister, re-entrant handlers", () => {
  it("held: EndFrame while one call finishes and one never settles: the result is recorded, not answered; the other is cancelled; run() resolves", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [
            { id: "quick", name: "get_weather", args: '{"city":"A"}' },
            { id: "stuck", name: "book_table", args: '{"people":2}' },
          ])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL, { llm: { functionCalls: { endWaitMs: 500 } } }));
    b.llm.registerFunction(weather, async () => {
      await sleep(100);
      return "sunny";
    });
    let stuck: AbortSignal | undefined;
    b.llm.registerFunction(
      booking,
      (_a, { signal }) => {
        stuck = signal;
        return new Promise<never>(() => undefined); // ignores its signal
      },
      { timeoutMs: 60_000 },
    );
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.functionCallsInFlight === 2, 3_000, "both calls to run");
    const t0 = performance.now();
    void b.task.stopWhenDone();
    await until(() => b.isEnded(), 5_000, "run() to resolve");
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(stuck!.aborted).toBe(true);
    expect(b.context.toolCallStatus("quick")).toBe("completed");
    expect(b.context.toolCallStatus("stuck")).toBe("cancelled");
    expect(srv.requests.length).toBe(1);
    expect(b.llm.functionCallsInFlight).toBe(0);
  });

  it("held: a call past its timeout is answered 'did not finish'; what it returns later is dropped and counted, never recorded", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [{ id: "slow", name: "get_weather", args: '{"city":"Oslo"}' }])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    let signal: AbortSignal | undefined;
    b.llm.registerFunction(
      weather,
      async (_a, call) => {
        signal = call.signal;
        await sleep(400); // ignores its signal
        return "too late";
      },
      { timeoutMs: 100 },
    );
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.lateFunctionResultsDropped === 1, 3_000, "the late return");
    await until(() => srv.requests.length >= 2, 3_000, "the answer");
    expect(signal!.aborted).toBe(true);
    const tool = (srv.requests[1]!.body["messages"] as WireMessage[]).find((m) => m.tool_call_id === "slow");
    expect(String(tool?.content)).toContain("did not finish within 100 ms");
    expect(JSON.stringify(b.context.messages)).not.toContain("too late");
    expect(b.count(FunctionCallResultFrame)).toBe(1);
  });

  it("held: unregisterFunction while its call runs: the call still runs, its result is answered, the tool is gone from the next request", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [{ id: "u", name: "get_weather", args: '{"city":"Oslo"}' }])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    b.llm.registerFunction(weather, async () => {
      expect(b.llm.unregisterFunction("get_weather")).toBe(true);
      await sleep(50);
      return "rain";
    });
    b.task.queueFrame(new LLMRunFrame());
    await until(() => srv.requests.length >= 2, 3_000, "the answer");
    const body = srv.requests[1]!.body;
    expect((body["messages"] as WireMessage[]).find((m) => m.tool_call_id === "u")?.content).toBe("rain");
    expect(body["tools"]).toBeUndefined();
    expect(conversationProblems(body)).toEqual([]);
  });

  it("held: a handler that interrupts the pipeline from inside itself is cancelled once; what it returns after is dropped", async () => {
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [{ id: "r", name: "get_weather", args: '{"city":"Oslo"}' }])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    b.llm.registerFunction(weather, async (_a, { signal }) => {
      b.task.queueFrame(new InterruptionFrame());
      await until(() => signal.aborted, 3_000, "the abort");
      return "after abort";
    });
    b.task.queueFrame(new LLMRunFrame());
    await until(() => b.llm.lateFunctionResultsDropped === 1, 3_000, "the late return");
    await sleep(100);
    expect(b.count(FunctionCallCancelFrame)).toBe(1);
    expect(b.count(FunctionCallResultFrame)).toBe(0);
    expect(b.context.toolCallStatus("r")).toBe("cancelled");
    expect(b.llm.functionCallsInFlight).toBe(0);
    expect(b.pair.assistant().openFunctionCalls).toBe(0);
  });
});

// ------------------------------------------------------------------------------------------------

describe("a model that calls a tool in every answer", () => {
  // BROKEN (nothing bounds it; the docs promise nothing grows for the length of a session). A model
  // that answers every result with another call (a `toolChoice` of "required" or a named function
  // does exactly that, by construction) is asked again at once, without end and without any user
  // input. Measured on loopback: 336 requests in 2 s, the context growing by two messages per round
  // (674 messages), every request carrying all of them; the session's cost and memory grow until
  // it ends. Root cause: LLMAssistantAggregator.#requestRun asks for an answer after every settled
  // group, and nothing (LLMService, FunctionCallRunner) counts consecutive tool rounds without a
  // user turn; there is no `maxToolRounds`-like bound after which the model is answered with
  // toolChoice "none" or the loop is said once and stopped.
  it("fixed: tool rounds without a user turn are bounded", async () => {
    const srv = await server((sse, n) =>
      toolCalls(sse, [{ id: `c${n}`, name: "get_weather", args: '{"city":"Paris"}' }]),
    );
    const b = started(bot(srv.baseURL));
    b.llm.registerFunction(weather, () => "sunny");
    b.task.queueFrame(new LLMRunFrame());
    await sleep(1_500);
    const first = srv.requests.length;
    await sleep(500);
    await b.stop();
    expect({ moreRoundsInTheLastHalfSecond: srv.requests.length - first }).toEqual({
      moreRoundsInTheLastHalfSecond: 0,
    });
  });
});

// ------------------------------------------------------------------------------------------------

describe("schemas and options", () => {
  // FIXED. docs/design/llm-context.md, "Tools": the schema language is a listed subset, and
  // "Other keywords are refused when the tool is defined." Measured: defineTool accepts `pattern`,
  // `const`, `$ref`, `exclusiveMinimum`, `oneOf` beside a type, `patternProperties`; none is checked, so
  // a handler declared with `pattern: "^[a-z]+$"` gets "DROP TABLE" (parseToolArguments ok: true).
  // Root cause: findSchemaProblem (src/context/json-schema.ts) checks `type`, `items`, `properties`
  // and `required` only, and never looks at the other keys of a node. Fix: each type takes a listed
  // set of keywords (plus `description`, `title`); any other key is refused, naming it and the set.
  it("fixed: defineTool refuses keywords outside the supported subset (LLMContextError)", () => {
    const keywords: Record<string, object> = {
      pattern: { type: "string", pattern: "^[a-z]+$" },
      const: { type: "string", const: "x" },
      $ref: { type: "string", $ref: "#/defs/x" },
      exclusiveMinimum: { type: "number", exclusiveMinimum: 0 },
      oneOf: { type: "string", oneOf: [{ type: "string" }] },
      patternProperties: { type: "object", patternProperties: { "^x": { type: "string" } } },
    };
    const accepted: string[] = [];
    for (const [name, schema] of Object.entries(keywords)) {
      try {
        defineTool({
          name: "f",
          description: "d",
          parameters: { type: "object", properties: { a: schema as never } },
        });
        accepted.push(name);
      } catch (error) {
        expect(error, name).toBeInstanceOf(LLMContextError);
      }
    }
    expect(accepted).toEqual([]);
  });

  // FIXED. `minItems`/`maxItems` are in the supported subset (llm-context.md, and the ArraySchema
  // type) and the TSDoc of findSchemaViolation exempts only `format` and string lengths from the
  // check; "arguments are checked against the schema and handed over typed". Measured: a model's
  // `{"tags":[]}` for `minItems: 2` and a 5-item array for `maxItems: 3` run the handler with them.
  // Root cause: findSchemaViolation (src/context/json-schema.ts), case "array", checks the items
  // but not minItems/maxItems. Fix: the array case checks the count before the items.
  it("fixed: arguments that break minItems/maxItems are answered 'invalid arguments', the handler is not run", async () => {
    const tagger = defineTool({
      name: "tag",
      description: "Tags the order",
      parameters: {
        type: "object",
        properties: { tags: { type: "array", items: { type: "string" }, minItems: 2, maxItems: 3 } },
        required: ["tags"],
      },
    });
    const srv = await server((sse, n) =>
      n === 1
        ? toolCalls(sse, [
            { id: "few", name: "tag", args: '{"tags":[]}' },
            { id: "many", name: "tag", args: '{"tags":["a","b","c","d","e"]}' },
          ])
        : answer(sse, [`Done ${n}.`]),
    );
    const b = started(bot(srv.baseURL));
    const ran: number[] = [];
    b.llm.registerFunction(tagger, ({ tags }) => {
      ran.push(tags.length);
      return "tagged";
    });
    b.task.queueFrame(new LLMRunFrame());
    await until(() => srv.requests.length >= 2, 3_000, "the answer");
    const sent = srv.requests[1]!.body["messages"] as WireMessage[];
    expect(ran).toEqual([]);
    for (const id of ["few", "many"])
      expect(String(sent.find((m) => m.tool_call_id === id)?.content)).toContain("invalid arguments for tag");
  });

  // FIXED. "A malformed schema throws LLMContextError" (registerFunction's TSDoc). Measured:
  // `required: 5` throws a raw TypeError ("number 5 is not iterable"); `enum: "red"` (a string, not
  // an array) is accepted and then matched as a substring: the argument "e" passes; `minimum: "abc"`
  // and `additionalProperties: "no"` are accepted (the bound never applies). Root cause:
  // findSchemaProblem (src/context/json-schema.ts) never checks the types of `required`, `enum`,
  // `minimum`/`maximum`, `minItems`/`maxItems`, `additionalProperties`; checkEnum calls
  // `allowed.includes` on whatever it is. Fix: findSchemaProblem checks each keyword's value.
  it("fixed: malformed keyword values in a schema throw LLMContextError", () => {
    const schemas: Record<string, object> = {
      "required: 5": { type: "object", properties: {}, required: 5 },
      'enum: "red"': { type: "object", properties: { a: { type: "string", enum: "red" } } },
      'minimum: "abc"': { type: "object", properties: { a: { type: "number", minimum: "abc" } } },
      'additionalProperties: "no"': { type: "object", properties: {}, additionalProperties: "no" },
    };
    const wrong: string[] = [];
    for (const [name, parameters] of Object.entries(schemas)) {
      try {
        defineTool({ name: "f", description: "d", parameters: parameters as never });
        wrong.push(`${name}: accepted`);
      } catch (error) {
        if (!(error instanceof LLMContextError)) wrong.push(`${name}: ${(error as Error).name}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  // FIXED. "a bad option throws InvalidOptionError" (registerFunction's TSDoc; the design doc says
  // "a bad timeout", the TSDoc any option). Measured: `registerFunction(tool, h, null)` and
  // `new OpenAILLMService({ functionCalls: null })` throw raw TypeErrors ("Cannot read properties of
  // null (reading 'timeoutMs')"); `cancelOnInterruption: "false"`, `runLlm: 0`, `addToContext: "no"`
  // and `functionCalls: { sequential: "yes" }` are accepted and used by truthiness: a call its author
  // meant to keep is cancelled on the first barge-in, a tool meant to stay out is offered to the
  // model. Root cause: FunctionCallRunner.register and its constructor
  // (src/services/llm/function-calls/function-call-runner.ts) check only the timeouts and
  // maxInFlight; `options ?? {}` and boolean checks are missing. Fix: a non-object options value
  // (null included) and a flag that is not a boolean are refused; undefined means the defaults.
  it("fixed: registerFunction and functionCalls refuse option values of the wrong type (InvalidOptionError)", () => {
    const make = (extra: object = {}) =>
      new OpenAILLMService({ apiKey: "sk-test", env: {}, model: "gpt-test", ...extra });
    const cases: Record<string, () => unknown> = {
      "options null": () => make().registerFunction(weather, () => 1, null as never),
      'cancelOnInterruption: "false"': () =>
        make().registerFunction(weather, () => 1, { cancelOnInterruption: "false" as never }),
      "runLlm: 0": () => make().registerFunction(weather, () => 1, { runLlm: 0 as never }),
      'addToContext: "no"': () => make().registerFunction(weather, () => 1, { addToContext: "no" as never }),
      'functionCalls: { sequential: "yes" }': () => make({ functionCalls: { sequential: "yes" } }),
      "functionCalls: null": () => make({ functionCalls: null }),
    };
    const wrong: string[] = [];
    for (const [name, run] of Object.entries(cases)) {
      try {
        run();
        wrong.push(`${name}: accepted`);
      } catch (error) {
        if (!(error instanceof InvalidOptionError)) wrong.push(`${name}: ${(error as Error).name}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
