import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FrameDirection,
  FunctionCallCancelFrame,
  type FunctionCallInfo,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
  InterruptionFrame,
  InvalidOptionError,
  LLMContext,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  MemoryTransport,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../../src/index.js";
import { LLMAssistantAggregator } from "../../../src/processors/aggregators/index.js";
import { constant } from "../../support/audio.js";
import { started } from "./support.js";

const RATE = 24_000;

function setup(options: ConstructorParameters<typeof LLMAssistantAggregator>[1] = {}) {
  const context = new LLMContext({ messages: [{ role: "user", content: "Tell me a story." }] });
  const assistant = new LLMAssistantAggregator(context, options);
  return { context, assistant };
}

const assistantMessages = (context: LLMContext) =>
  context.messages.filter((m) => m.role === "assistant" && !m.tool_calls);

/** The assistant aggregator after a real (memory) output transport playing 24 kHz audio. */
async function afterOutput(options: ConstructorParameters<typeof LLMAssistantAggregator>[1] = {}) {
  const { context, assistant } = setup(options);
  const transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutSampleRate: RATE } });
  const s = await started(transport.output(), assistant);
  return { ...s, context, assistant, output: transport.output() };
}

type Harness = Awaited<ReturnType<typeof afterOutput>>;

/**
 * Queues an answer the way a TTS with word timestamps does: each word's audio, and the word as a
 * TTSTextFrame whose pts is when its audio starts playing. Returns when each word starts and the
 * end of the audio, in ms from now.
 */
function speakWords(s: Harness, words: readonly string[], durationsMs: readonly number[]) {
  const t0 = s.clock.now();
  const starts: number[] = [];
  let at = 0;
  s.task.queueFrame(new LLMFullResponseStartFrame());
  s.task.queueFrame(new TTSStartedFrame("ctx"));
  words.forEach((word, i) => {
    s.task.queueFrame(new TTSAudioRawFrame(constant(durationsMs[i]!, RATE), RATE));
    const text = new TTSTextFrame(word);
    text.pts = t0 + at;
    starts.push(at);
    s.task.queueFrame(text);
    at += durationsMs[i]!;
  });
  s.task.queueFrame(new TTSStoppedFrame("ctx"));
  s.task.queueFrame(new LLMFullResponseEndFrame());
  return { t0, starts, endMs: at };
}

const call = (id: string, functionName = "get_weather"): FunctionCallInfo => ({
  functionName,
  toolCallId: id,
  arguments: { city: "Paris" },
});

describe("LLMAssistantAggregator after a real output transport", () => {
  it("commits the whole answer when it was played to the end", async () => {
    const s = await afterOutput();
    const { endMs } = speakWords(s, ["Once", "upon", "a", "time."], [200, 200, 120, 320]);
    await s.clock.advance(endMs + 200);
    expect(assistantMessages(s.context)).toEqual([{ role: "assistant", content: "Once upon a time." }]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("on a barge-in mid-audio commits exactly the words played, marked interrupted", async () => {
    const s = await afterOutput();
    const committed: Array<[string, boolean]> = [];
    s.assistant.on("assistantTurnCommitted", (text, interrupted) => void committed.push([text, interrupted]));
    const { t0 } = speakWords(
      s,
      ["Once", "upon", "a", "time,", "far", "away."],
      [200, 200, 120, 320, 200, 400],
    );
    await s.clock.advanceTo(t0 + 600); // "time," started at 520 ms; "far" would start at 840
    await s.send(new InterruptionFrame());
    await s.clock.advance(2000);
    expect(assistantMessages(s.context)).toEqual([
      { role: "assistant", content: "Once upon a time,", interrupted: true },
    ]);
    expect(committed).toEqual([["Once upon a time,", true]]);
    // The next request holds the spoken prefix, not the whole answer.
    expect(JSON.stringify(s.context.snapshot().messages)).not.toMatch(/far|away/);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("records nothing for an answer interrupted before its first word played", async () => {
    const s = await afterOutput();
    const { t0 } = speakWords(s, ["Hello"], [400]);
    s.task.queueFrame(new InterruptionFrame()); // same instant as the first word's pts, before the clock moves
    await s.clock.settle();
    await s.clock.advanceTo(t0 + 1000);
    expect(assistantMessages(s.context)).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("property: for any words, durations and barge-in time, the context holds the words played before it, whole", async () => {
    const word = fc.constantFrom("the", "bot", "said", "hello,", "world.", "café", "naïve", "x");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(word, fc.integer({ min: 20, max: 400 })), { minLength: 1, maxLength: 10 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (spoken, fraction) => {
          const s = await afterOutput();
          const words = spoken.map(([w]) => w);
          const { t0, starts, endMs } = speakWords(
            s,
            words,
            spoken.map(([, d]) => d),
          );
          // Barge in somewhere before the last chunk of audio (so the answer is cut off).
          const at = Math.floor(fraction * Math.max(0, endMs - 80));
          await s.clock.advanceTo(t0 + at);
          await s.send(new InterruptionFrame());
          await s.clock.advance(endMs + 500);
          const played = words.filter((_, i) => starts[i]! <= at);
          const messages = assistantMessages(s.context);
          if (played.length === 0) expect(messages).toEqual([]);
          else
            expect(messages).toEqual([{ role: "assistant", content: played.join(" "), interrupted: true }]);
          await s.clock.runUntil(s.task.cancel());
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("LLMAssistantAggregator text", () => {
  it("takes sentence frames as they are, and puts a space only where one is missing", async () => {
    const { context, assistant } = setup();
    const s = await started(assistant);
    await s.send(
      new LLMFullResponseStartFrame(),
      new TTSTextFrame("First sentence. "),
      new TTSTextFrame("Second one."),
      new TTSTextFrame("Third."),
      new LLMFullResponseEndFrame(),
    );
    expect(assistantMessages(context)).toEqual([
      { role: "assistant", content: "First sentence. Second one. Third." },
    ]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("inserts no space between CJK words", async () => {
    const { context, assistant } = setup();
    const s = await started(assistant);
    await s.send(
      new LLMFullResponseStartFrame(),
      ...["你好", "，", "今天", "天气", "很好", "。"].map((w) => new TTSTextFrame(w)),
      new LLMFullResponseEndFrame(),
    );
    expect(assistantMessages(context)[0]!.content).toBe("你好，今天天气很好。");
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("with no TTS (a text bot), LLM tokens are the text, spacing as streamed", async () => {
    const { context, assistant } = setup();
    const s = await started(assistant);
    await s.send(
      new LLMFullResponseStartFrame(),
      ...["Hel", "lo", " there", ", friend", "."].map((t) => new LLMTextFrame(t)),
      new LLMFullResponseEndFrame(),
    );
    expect(assistantMessages(context)).toEqual([{ role: "assistant", content: "Hello there, friend." }]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a TTSSpeakFrame's speech (TTSStarted … TTSStopped with no LLM response) is committed too", async () => {
    const { context, assistant } = setup();
    const s = await started(assistant);
    await s.send(new TTSStartedFrame(), new TTSTextFrame("Welcome back!"), new TTSStoppedFrame());
    expect(assistantMessages(context)).toEqual([{ role: "assistant", content: "Welcome back!" }]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("an answer with no text (only tool calls) adds no empty message", async () => {
    const { context, assistant } = setup();
    const s = await started(assistant);
    await s.send(new LLMFullResponseStartFrame(), new LLMFullResponseEndFrame());
    expect(assistantMessages(context)).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("bounds an answer by maxResponseChars and says so once", async () => {
    const { context, assistant } = setup({ maxResponseChars: 30 });
    const s = await started(assistant);
    for (let r = 0; r < 3; r++) {
      await s.send(new LLMFullResponseStartFrame());
      for (let i = 0; i < 200; i++) await s.send(new TTSTextFrame("blah"));
      await s.send(new LLMFullResponseEndFrame());
    }
    const messages = assistantMessages(context);
    expect(messages).toHaveLength(3);
    for (const m of messages) expect((m.content as string).length).toBeLessThanOrEqual(30);
    expect(assistant.droppedChars).toBeGreaterThan(0);
    expect(s.lines.filter((l) => /maxResponseChars/.test(l.message))).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("forwards every frame", async () => {
    const { assistant } = setup();
    const s = await started(assistant);
    const frames = [new LLMFullResponseStartFrame(), new TTSTextFrame("Hi"), new LLMFullResponseEndFrame()];
    await s.send(...frames);
    expect(s.down.frames.filter((f) => frames.includes(f as never))).toEqual(frames);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("cancel mid-answer commits the played part as interrupted; end commits it whole; no timer is left", async () => {
    for (const how of ["end", "cancel"] as const) {
      const { context, assistant } = setup();
      const s = await started(assistant);
      await s.send(new LLMFullResponseStartFrame(), new TTSTextFrame("Half"), new TTSTextFrame("said"));
      await s.send(new FunctionCallsStartedFrame([call("a")]), new UserStartedSpeakingFrame());
      await s.send(new FunctionCallResultFrame(call("a"), "ok"), new UserStoppedSpeakingFrame());
      await s.clock.runUntil(how === "end" ? s.task.stopWhenDone() : s.task.cancel());
      await s.clock.advance(10_000);
      expect(assistantMessages(context)).toEqual([
        how === "end"
          ? { role: "assistant", content: "Half said" }
          : { role: "assistant", content: "Half said", interrupted: true },
      ]);
      expect(s.clock.pendingTimers).toBe(0);
      expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
      expect(assistant.openFunctionCalls).toBe(0);
    }
  });

  it("refuses bad options with a message naming the option", () => {
    const context = new LLMContext();
    expect(() => new LLMAssistantAggregator(context, { maxResponseChars: 1.5 })).toThrow(InvalidOptionError);
    expect(() => new LLMAssistantAggregator(context, { userTurnWaitMs: -5 })).toThrow(/userTurnWaitMs/);
    expect(() => new LLMAssistantAggregator(context, { maxOpenFunctionCalls: 0 })).toThrow(
      /maxOpenFunctionCalls/,
    );
  });
});

describe("LLMAssistantAggregator function calls", () => {
  /** A context whose last answer called `ids` (as the LLM service records them). */
  function withCalls(...ids: string[]) {
    const { context, assistant } = setup();
    context.recordToolCalls(ids.map((id) => ({ id, name: "get_weather", arguments: { city: "Paris" } })));
    return { context, assistant };
  }

  it("records each result and asks the LLM (upstream) once every call of the group is settled", async () => {
    const { context, assistant } = withCalls("a", "b", "c");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a"), call("b"), call("c")]));
    await s.send(new FunctionCallResultFrame(call("a"), { tempC: 21 }));
    await s.send(new FunctionCallCancelFrame(call("b")));
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    expect(context.toolCallStatus("a")).toBe("completed");
    expect(context.toolCallStatus("b")).toBe("cancelled");
    await s.send(new FunctionCallResultFrame(call("c"), "sunny"));
    const runs = s.up.ofType(LLMContextFrame);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.context).toBe(context);
    expect(assistant.runsRequested).toBe(1);
    expect(assistant.openFunctionCalls).toBe(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("does not ask the LLM when no result of the group wants an answer", async () => {
    const { assistant } = withCalls("a", "b");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a"), call("b")]));
    await s.send(
      new FunctionCallResultFrame(call("a"), "done", false),
      new FunctionCallCancelFrame(call("b")),
    );
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("refuses a late result of a cancelled call, says so once, and counts the rest", async () => {
    const { context, assistant } = withCalls("a", "b");
    const s = await started(assistant);
    const rejected: string[] = [];
    assistant.on(
      "functionCallResultRejected",
      (c, reason) => void rejected.push(`${c.toolCallId}:${reason}`),
    );
    await s.send(new FunctionCallsStartedFrame([call("a"), call("b")]));
    await s.send(new FunctionCallCancelFrame(call("a")), new FunctionCallCancelFrame(call("b")));
    await s.send(
      new FunctionCallResultFrame(call("a"), "late"),
      new FunctionCallResultFrame(call("b"), "late"),
    );
    expect(context.toolCallStatus("a")).toBe("cancelled");
    expect(rejected).toEqual(["a:cancelled", "b:cancelled"]);
    expect(assistant.resultsRejected).toBe(2);
    expect(s.lines.filter((l) => /after the call was cancelled/.test(l.message))).toHaveLength(1);
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a result that comes while an answer is being played is answered after that answer ends", async () => {
    const { assistant } = withCalls("a");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a")]));
    await s.send(new LLMFullResponseStartFrame(), new TTSTextFrame("Still talking"));
    await s.send(new FunctionCallResultFrame(call("a"), "sunny"));
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    await s.send(new LLMFullResponseEndFrame());
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a late result (the conversation moved on) is recorded and answered when the user is not speaking", async () => {
    const { context, assistant } = withCalls("a");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a")]));
    context.addMessage({ role: "user", content: "And tomorrow?" }); // the conversation moved on
    await s.send(new FunctionCallResultFrame(call("a"), "sunny"));
    expect(context.messages.at(-1)).toMatchObject({ role: "system" }); // the context's note of a late result
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("while the user speaks, the user's own turn carries the results: no extra run when it adds a message", async () => {
    const { context, assistant } = withCalls("a");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a")]), new UserStartedSpeakingFrame());
    await s.send(new FunctionCallResultFrame(call("a"), "sunny"), new UserStoppedSpeakingFrame());
    context.addMessage({ role: "user", content: "Thanks" }); // what the user aggregator does at the stop
    await s.clock.advance(5000);
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    expect(s.clock.pendingTimers).toBe(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("while the user speaks, a turn that adds no message (a cough) gets the results answered after userTurnWaitMs", async () => {
    const { assistant } = withCalls("a");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a")]), new UserStartedSpeakingFrame());
    await s.send(new FunctionCallResultFrame(call("a"), "sunny"));
    await s.clock.advance(3000); // still speaking: nothing
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    await s.send(new UserStoppedSpeakingFrame());
    await s.clock.advance(1199);
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(0);
    await s.clock.advance(1);
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("an interruption commits the played part and leaves running calls to their result or cancel", async () => {
    const { context, assistant } = withCalls("a");
    const s = await started(assistant);
    await s.send(new LLMFullResponseStartFrame(), new TTSTextFrame("Let me"), new TTSTextFrame("check"));
    await s.send(
      new FunctionCallsStartedFrame([call("a")]),
      new UserStartedSpeakingFrame(),
      new InterruptionFrame(),
    );
    // What was played before the calls is the calls' own message (the model said it there).
    expect(context.messages.filter((m) => m.role === "assistant")).toMatchObject([
      { role: "assistant", content: "Let me check", interrupted: true, tool_calls: [{ id: "a" }] },
    ]);
    expect(assistant.openFunctionCalls).toBe(1);
    await s.send(new FunctionCallCancelFrame(call("a")));
    expect(assistant.openFunctionCalls).toBe(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a result that is not JSON data still settles the call, with a result the model can explain", async () => {
    const { context, assistant } = withCalls("a");
    const s = await started(assistant);
    await s.send(new FunctionCallsStartedFrame([call("a")]));
    await s.send(new FunctionCallResultFrame(call("a"), Number.NaN as never));
    const tool = context.messages.find((m) => m.role === "tool");
    expect(tool?.content).toMatch(/get_weather function failed/);
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("tracks a bounded number of open calls; the oldest group is forgotten past maxOpenFunctionCalls", async () => {
    const { assistant } = setup({ maxOpenFunctionCalls: 4 });
    const s = await started(assistant);
    for (let i = 0; i < 100; i++) await s.send(new FunctionCallsStartedFrame([call(`x${i}`), call(`y${i}`)]));
    expect(assistant.openFunctionCalls).toBeLessThanOrEqual(4);
    expect(s.lines.filter((l) => /maxOpenFunctionCalls/.test(l.message))).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("the LLMContextFrame it asks with leaves upstream, past the output transport", async () => {
    const { context } = withCalls("a");
    const assistant = new LLMAssistantAggregator(context);
    const transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutSampleRate: RATE } });
    const s = await started(transport.output(), assistant);
    await s.send(new FunctionCallsStartedFrame([call("a")]), new FunctionCallResultFrame(call("a"), "ok"));
    await s.clock.advance(100);
    const runs = s.up.ofType(LLMContextFrame);
    expect(runs).toHaveLength(1);
    expect(s.up.frames).toContain(runs[0]);
    expect(FrameDirection.UPSTREAM).toBe(s.up.direction);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});
