import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Frame,
  Pipeline,
  PipelineTask,
  STTEndOfTurnFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  silentLogger,
  FunctionCallsStartedFrame,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMPreemptiveContextFrame,
  LLMPreemptiveTextFrame,
  LLMTextFrame,
  MetricsFrame,
  SystemClock,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
  VirtualClock,
} from "../../../src/index.js";
import { LLMContext, defineTool } from "../../../src/context/index.js";
import { OpenAILLMService } from "../../../src/services/llm/openai/index.js";
import { LLMUserAggregator } from "../../../src/processors/aggregators/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import { PREFETCH_UNCLAIMED_MS } from "../../../src/services/llm/llm-prefetch.js";
import {
  type LoopbackOpenAI,
  type SseWriter,
  answer,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  toolCallChunk,
  until,
  usageChunk,
} from "./loopback-openai.js";
import { runOpenAI } from "../http/run-llm.js";
import { type SynthesisOutput, TTSService } from "../../../src/services/tts/tts-service.js";
import { closedAfterEach } from "../../support/servers.js";

const server = closedAfterEach(loopbackOpenAI);

/**
 * An in-process engine whose audio says which text it was made for: every sample of a piece is
 * that text's number (1, 2, … in the order first asked), at the task's 24 kHz so nothing resamples
 * it. It also counts how many pieces it synthesises at once.
 */
class CodedTTS extends TTSService {
  readonly texts: string[] = [];
  active = 0;
  maxActive = 0;
  protected override get engineSampleRate(): number {
    return 24_000;
  }
  protected override async *synthesize(text: string, signal: AbortSignal): AsyncIterable<SynthesisOutput> {
    this.maxActive = Math.max(this.maxActive, ++this.active);
    try {
      let code = this.texts.indexOf(text) + 1;
      if (code === 0) code = this.texts.push(text);
      for (let i = 0; i < 2; i++) {
        await Promise.resolve();
        if (signal.aborted) throw signal.reason;
        yield new Int16Array(480).fill(code);
      }
    } finally {
      this.active--;
    }
  }
}

const run = runOpenAI;

/** The last user message of a request the server saw. */
function lastUser(srv: LoopbackOpenAI, i: number): unknown {
  const messages = srv.requests[i]!.body["messages"] as { role: string; content: unknown }[];
  return messages.at(-1)!.content;
}

/** An answer that says back the request's last user message: which context it answers is visible. */
function echoAnswer(sse: SseWriter): void {
  const messages = sse.request.body["messages"] as { role: string; content: string }[];
  answer(sse, [`You said: ${messages.at(-1)!.content}`]);
}

const base = () => new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
const ask = (context: LLMContext, text: string) =>
  new LLMPreemptiveContextFrame(context, { role: "user", content: text });
const answered = (t: ReturnType<typeof run>): number => t.down.ofType(LLMFullResponseEndFrame).length;

describe("preemptive generation in the LLM service (LLMPreemptiveContextFrame)", () => {
  it("sends the request at once, holds the answer unheard, and uses it when the turn is confirmed with those words: one request in all", async () => {
    const srv = await server(echoAnswer);
    const t = run(srv);
    const context = base();
    t.task.queueFrame(ask(context, "What time is it?"));
    await until(() => srv.requests[0]?.closed === true, 3_000, "the preemptive answer");
    expect(lastUser(srv, 0)).toBe("What time is it?");
    // Held: nothing of it went out, the context is untouched.
    await new Promise((r) => setTimeout(r, 20));
    expect(t.down.ofType(LLMFullResponseStartFrame)).toHaveLength(0);
    expect(context.messages).toHaveLength(1);

    context.addMessage({ role: "user", content: "What time is it?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(t.textsAfter().join("")).toBe("You said: What time is it?");
    expect(srv.requests).toHaveLength(1);
    expect(t.llm.preemptiveAnswersUsed).toBe(1);
    expect(t.llm.preemptiveAnswersDiscarded).toBe(0);
    // The ttfb is measured from the confirmed turn, and still reported.
    expect(t.metrics().map((m) => m.kind)).toEqual(["ttfb", "processing", "llm_usage"]);
    expect(t.errors).toEqual([]);
  });

  it("passes the held answer's text on as LLMPreemptiveTextFrames (one id, the last marked), and nothing of it after the claim", async () => {
    const srv = await server((sse) => answer(sse, ["Sure", ". It is", " noon."]));
    const t = run(srv);
    const context = base();
    t.task.queueFrame(ask(context, "What time is it?"));
    await until(
      () => t.down.ofType(LLMPreemptiveTextFrame).some((f) => f.last),
      3_000,
      "the held answer's end",
    );
    const held = t.down.ofType(LLMPreemptiveTextFrame);
    expect(held.map((f) => f.text).join("")).toBe("Sure. It is noon.");
    expect(new Set(held.map((f) => f.answerId)).size).toBe(1);
    expect(held.map((f) => f.last)).toEqual([...held.slice(1).map(() => false), true]);
    expect(held.at(-1)!.text).toBe("");
    expect(t.down.ofType(LLMTextFrame)).toHaveLength(0);

    context.addMessage({ role: "user", content: "What time is it?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(t.textsAfter().join("")).toBe("Sure. It is noon.");
    expect(t.down.ofType(LLMPreemptiveTextFrame)).toHaveLength(held.length);
    // In order: every held text frame went out before the answer started.
    const frames = t.down.frames;
    const lastHeld = frames.indexOf(held.at(-1)!);
    expect(lastHeld).toBeLessThan(frames.findIndex((f) => f instanceof LLMFullResponseStartFrame));
  });

  it("a turn confirmed with other words discards the held answer (its request closed) and asks again: only the right answer is heard", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) {
        sse.send(roleChunk()); // the first answer is still streaming when the turn ends
        return;
      }
      echoAnswer(sse);
    });
    const t = run(srv);
    const context = base();
    t.task.queueFrame(ask(context, "What time"));
    await until(() => srv.requests.length === 1, 3_000, "the preemptive request");
    context.addMessage({ role: "user", content: "What time is it in Paris?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await until(() => srv.requests[0]!.closed, 3_000, "the discarded request closed");
    await t.finish();
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.textsAfter().join("")).toBe("You said: What time is it in Paris?");
    expect(t.llm.preemptiveAnswersUsed).toBe(0);
    expect(t.llm.preemptiveAnswersDiscarded).toBe(1);
  });

  it("a context changed in any other way (a message replaced, tools set) does not match, even with the same last words", async () => {
    const srv = await server(echoAnswer);
    const t = run(srv);
    const context = base();
    t.task.queueFrame(ask(context, "Hi"));
    await until(() => srv.requests[0]?.closed === true, 3_000, "the preemptive answer");
    context.setMessages([{ role: "system", content: "Be very brief." }]);
    context.addMessage({ role: "user", content: "Hi" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(srv.requests).toHaveLength(2);
    expect((srv.requests[1]!.body["messages"] as { content: string }[])[0]!.content).toBe("Be very brief.");
    expect(t.llm.preemptiveAnswersDiscarded).toBe(1);
  });

  it("an interruption discards the held answer at once; the next turn asks afresh", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) {
        sse.send(roleChunk());
        return;
      }
      echoAnswer(sse);
    });
    const t = run(srv);
    const context = base();
    t.task.queueFrame(ask(context, "Hello"));
    await until(() => srv.requests.length === 1, 3_000, "the preemptive request");
    t.task.queueFrame(new InterruptionFrame());
    await until(() => srv.requests[0]!.closed, 3_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    context.addMessage({ role: "user", content: "Hello" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(srv.requests).toHaveLength(2);
    expect(t.textsAfter().join("")).toBe("You said: Hello");
  });

  it("a preemptive request that fails (500) is dropped quietly: the confirmed turn asks again and is answered, no error said", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) sse.error(500, "overloaded");
      else echoAnswer(sse);
    });
    const t = run(srv, { retryBackoffMs: 0 });
    const failures: unknown[] = [];
    t.llm.on("completionFailed", (e) => void failures.push(e));
    const context = base();
    t.task.queueFrame(ask(context, "Hello"));
    await until(() => t.llm.preemptiveAnswersDiscarded === 1, 3_000, "the failed request dropped");
    context.addMessage({ role: "user", content: "Hello" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(t.textsAfter().join("")).toBe("You said: Hello");
    expect(t.errors).toEqual([]);
    expect(failures).toEqual([]);
    expect(t.llm.preemptiveAnswersUsed).toBe(0);
    expect(t.llm.preemptiveAnswersDiscarded).toBe(1);
  });

  it("a preemptive request that stalls is dropped after stallTimeoutMs and the confirmed turn asks again", async () => {
    const srv = await server((sse, n) => {
      if (n === 1)
        sse.open(); // headers, then nothing
      else echoAnswer(sse);
    });
    const t = run(srv, { stallTimeoutMs: 150 });
    const context = base();
    t.task.queueFrame(ask(context, "Hello"));
    await until(() => srv.requests[0]?.closed === true, 3_000, "the stalled request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    context.addMessage({ role: "user", content: "Hello" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(srv.requests).toHaveLength(2);
    expect(t.textsAfter().join("")).toBe("You said: Hello");
    expect(t.errors).toEqual([]);
  });

  it("a stall after the answer was claimed is the completion's: retried once, as for any request", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) sse.open();
      else echoAnswer(sse);
    });
    const t = run(srv, { stallTimeoutMs: 300 });
    const context = base();
    t.task.queueFrame(ask(context, "Hello"));
    await until(() => srv.requests.length === 1, 3_000, "the preemptive request");
    context.addMessage({ role: "user", content: "Hello" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => t.llm.preemptiveAnswersUsed === 1, 3_000, "the claim");
    await until(() => answered(t) === 1, 3_000, "the retried answer");
    await t.finish();
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.textsAfter().join("")).toBe("You said: Hello");
  });

  it(`an answer nobody claims is closed after ${PREFETCH_UNCLAIMED_MS} ms (virtual time)`, async () => {
    // Complete but never ended: no read is under way, so virtual time can pass.
    const srv = await server((sse) => {
      sse.send(roleChunk());
      sse.send(finishChunk("stop"));
    });
    const clock = new VirtualClock();
    const t = run(srv, { stallTimeoutMs: 60_000 }, clock);
    t.task.queueFrame(ask(base(), "Hello"));
    await until(() => srv.requests.length === 1, 3_000, "the preemptive request");
    await new Promise((r) => setTimeout(r, 50));
    await clock.advance(PREFETCH_UNCLAIMED_MS - 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(srv.requests[0]!.closed).toBe(false);
    await clock.advance(1);
    await until(() => srv.requests[0]!.closed, 3_000, "the unclaimed request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.llm.preemptiveAnswersDiscarded).toBe(1);
    await t.finish();
    expect(t.down.ofType(LLMTextFrame)).toHaveLength(0);
  });

  it("tool calls in a held answer run only once the turn is confirmed, recorded after the user's message", async () => {
    const clockTool = defineTool({
      name: "get_time",
      description: "Current time",
      parameters: { type: "object", properties: {}, required: [] },
    });
    const srv = await server((sse, n) => {
      if (n === 1) {
        sse.send(roleChunk());
        sse.send(toolCallChunk({ index: 0, id: "call_1", name: "get_time", arguments: "{}" }));
        sse.send(finishChunk("tool_calls"));
        sse.send(usageChunk(10, 5));
        sse.done();
      } else answer(sse, ["It is noon."]);
    });
    const t = run(srv);
    let calls = 0;
    t.llm.registerFunction(clockTool, () => {
      calls++;
      return { time: "12:00" };
    });
    const context = base();
    t.task.queueFrame(ask(context, "What time is it?"));
    await until(() => srv.requests[0]?.closed === true, 3_000, "the preemptive answer");
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(0);
    expect(t.down.ofType(FunctionCallsStartedFrame)).toHaveLength(0);
    context.addMessage({ role: "user", content: "What time is it?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => calls === 1, 3_000, "the call");
    await t.finish();
    expect(context.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool"]);
    expect(t.down.ofType(FunctionCallsStartedFrame)).toHaveLength(1);
  });

  it("ending the pipeline closes a held request; a preemptive frame is never forwarded", async () => {
    const srv = await server((sse) => sse.send(roleChunk()));
    const t = run(srv, { stallTimeoutMs: 60_000 });
    t.task.queueFrame(ask(base(), "Hello"));
    await until(() => srv.requests.length === 1, 3_000, "the preemptive request");
    await t.finish();
    await until(() => srv.requests[0]!.closed, 3_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(0);
    expect(t.down.ofType(MetricsFrame)).toHaveLength(0);
  });

  it("a newer preemptive frame replaces the one held (its request closed)", async () => {
    const srv = await server((sse, n) => {
      if (n === 1) {
        sse.send(roleChunk());
        return;
      }
      echoAnswer(sse);
    });
    const t = run(srv);
    const context = base();
    t.task.queueFrame(ask(context, "What"));
    await until(() => srv.requests.length === 1, 3_000, "the first preemptive request");
    t.task.queueFrame(ask(context, "What time is it?"));
    await until(
      () => srv.requests[0]!.closed && srv.requests[1]?.closed === true,
      3_000,
      "both requests over",
    );
    context.addMessage({ role: "user", content: "What time is it?" });
    t.task.queueFrame(new LLMContextFrame(context));
    await until(() => answered(t) === 1, 3_000, "the answer");
    await t.finish();
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[0]!.abortedByClient).toBe(true);
    expect(t.textsAfter().join("")).toBe("You said: What time is it?");
    expect(t.llm.preemptiveAnswersUsed).toBe(1);
    expect(t.llm.preemptiveAnswersDiscarded).toBe(1);
  });
});

describe("preemptive generation, end to end (LLMUserAggregator → OpenAILLMService → a loopback server)", () => {
  it("property: whatever the order of turn signals, words and timing, every answer heard is the answer to a committed turn, in order, and never one to words that were only guessed; the TTS after it (preemptive speech) speaks only those answers, one piece at a time", async () => {
    // The echo in two pieces, "You said: <words>" then ". Done.": the first sentence is complete as
    // soon as the second piece comes, so a TTS can synthesise it ahead while the turn is still open.
    const TAIL = ". Done.";
    const srv = await server((sse) => {
      const messages = sse.request.body["messages"] as { role: string; content: string }[];
      answer(sse, [`You said: ${messages.at(-1)!.content}`, TAIL]);
    });
    type Step = { kind: "frame"; make: () => Frame } | { kind: "wait"; ms: number };
    const frame = (make: () => Frame): Step => ({ kind: "frame", make });
    // Inside a turn: the VAD coming and going, words, the STT's end of turn, pauses; rarely an
    // interruption. Turns are framed by the user's start and stop, sometimes missing one.
    const inside: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .constantFrom("yes", "no", "maybe")
          .map((w) => frame(() => new TranscriptionFrame(w, "user", 0))),
      },
      { weight: 2, arbitrary: fc.constant(frame(() => new VADUserStartedSpeakingFrame())) },
      { weight: 2, arbitrary: fc.constant(frame(() => new VADUserStoppedSpeakingFrame())) },
      { weight: 2, arbitrary: fc.constant(frame(() => new STTEndOfTurnFrame("speech_final", 0))) },
      { weight: 2, arbitrary: fc.constantFrom(0, 2, 8, 30).map((ms): Step => ({ kind: "wait", ms })) },
      { weight: 1, arbitrary: fc.constant(frame(() => new InterruptionFrame())) },
    );
    const turn = fc
      .tuple(fc.boolean(), fc.array(inside, { maxLength: 8 }), fc.boolean())
      .map(([start, body, stop]) => [
        ...(start ? [frame(() => new UserStartedSpeakingFrame())] : []),
        ...body,
        ...(stop ? [frame(() => new UserStoppedSpeakingFrame())] : []),
      ]);
    const conversation = fc.array(turn, { maxLength: 5 }).map((turns) => turns.flat());
    await fc.assert(
      fc.asyncProperty(conversation, async (steps) => {
        const context = base();
        const aggregator = new LLMUserAggregator(context, {
          preemptiveGeneration: true,
          transcriptWaitMs: 30,
        });
        const llm = new OpenAILLMService({
          apiKey: "sk-test",
          baseURL: srv.baseURL,
          env: {},
          model: "gpt-test",
        });
        const texts = new FrameRecorder();
        const tts = new CodedTTS();
        const down = new FrameRecorder();
        const committed: string[] = [];
        aggregator.on("userTurnCommitted", (text) => void committed.push(text));
        const task = new PipelineTask(new Pipeline([aggregator, llm, texts, tts, down]), {
          clock: new SystemClock(),
          logger: silentLogger,
          idleTimeoutMs: null,
        });
        const errors: unknown[] = [];
        task.on("pipelineError", (e) => void errors.push(e));
        const done = task.run();
        for (const s of steps) {
          if (s.kind === "wait") await new Promise((r) => setTimeout(r, s.ms));
          else task.queueFrame(s.make());
        }
        await new Promise((r) => setTimeout(r, 60)); // the last stop's wait, the last answers
        await until(() => llm.functionCallsInFlight === 0, 2_000, "quiet");
        void task.stopWhenDone();
        await done;
        const heard = texts.ofType(LLMTextFrame).map((f) => f.text);
        // Every answer heard says back a committed turn's words, in the order they were committed.
        let from = 0;
        for (const text of heard) {
          if (text === TAIL) continue;
          const i = committed.findIndex((c, k) => k >= from && `You said: ${c}` === text);
          expect(
            i,
            `"${text}" answers no committed turn (committed: ${JSON.stringify(committed)})`,
          ).toBeGreaterThanOrEqual(0);
          from = i;
        }
        expect(llm.preemptiveAnswersUsed).toBeLessThanOrEqual(aggregator.preemptiveRequests);
        // What the TTS spoke: per response, its sentences make (a prefix of) the answer to a committed
        // turn, never a guess's; its engine was never asked for two pieces at once.
        let spoken = "";
        const responses: string[] = [];
        for (const f of down.frames) {
          if (f instanceof TTSStartedFrame) spoken = "";
          else if (f instanceof TTSTextFrame) spoken += f.text;
          else if (f instanceof TTSStoppedFrame || f instanceof InterruptionFrame) responses.push(spoken);
        }
        responses.push(spoken);
        for (const said of responses.filter((r) => r !== "")) {
          expect(
            committed.some((c) => `You said: ${c}${TAIL}`.startsWith(said)),
            `the TTS said "${said}", the answer to no committed turn (committed: ${JSON.stringify(committed)})`,
          ).toBe(true);
        }
        // And every sample heard was made for a sentence of a committed turn's answer (a guess's audio
        // used for other words would carry its own text's number).
        // (Pieces are the TTS's sentences: any part of a committed answer, cut where its rules cut.)
        const answers = committed.map((c) => `You said: ${c}${TAIL}`);
        for (const audio of down.ofType(TTSAudioRawFrame)) {
          const made = tts.texts[audio.audio[0]! - 1];
          expect(
            made !== undefined && made.trim() !== "" && answers.some((a) => a.includes(made.trim())),
            `audio made for "${made}" was heard (committed: ${JSON.stringify(committed)})`,
          ).toBe(true);
        }
        expect(down.ofType(LLMPreemptiveTextFrame)).toEqual([]);
        expect(tts.maxActive).toBeLessThanOrEqual(1);
        // (Not bounded by the LLM's preemptive answers used: held speech is matched by its text, so a
        // fresh answer that begins with a guess's words uses it too, and that is right.)
        expect(errors).toEqual([]);
      }),
      { numRuns: 100 },
    );
    // Every request the server saw was closed (nothing left open by a discarded or held answer).
    await until(() => srv.requests.every((r) => r.closed), 3_000, "every request closed");
  });
});
