import { describe, expect, it } from "vitest";
import {
  type Frame,
  FrameDirection,
  FrameProcessor,
  InterimTranscriptionFrame,
  InterruptionFrame,
  InvalidOptionError,
  LLMContext,
  LLMContextFrame,
  LLMMessagesAppendFrame,
  LLMMessagesUpdateFrame,
  LLMRunFrame,
  LLMSetToolsFrame,
  TextFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  defineTool,
} from "../../../src/index.js";
import { LLMUserAggregator } from "../../../src/processors/aggregators/index.js";
import { started } from "./support.js";

const final = (text: string) => new TranscriptionFrame(text, "user", 0);
const interim = (text: string) => new InterimTranscriptionFrame(text, "user", 0);
const userMessages = (context: LLMContext) =>
  context.messages.filter((m) => m.role === "user").map((m) => m.content);

function setup(options: ConstructorParameters<typeof LLMUserAggregator>[1] = {}) {
  const context = new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
  const aggregator = new LLMUserAggregator(context, options);
  const committed: string[] = [];
  let empty = 0;
  aggregator.on("userTurnCommitted", (t) => void committed.push(t));
  aggregator.on("userTurnEmpty", () => void empty++);
  return { context, aggregator, committed, empty: () => empty };
}

describe("LLMUserAggregator", () => {
  it("adds one user message per turn at UserStoppedSpeakingFrame and pushes the context downstream", async () => {
    const { context, aggregator, committed } = setup();
    const s = await started(aggregator);
    await s.send(new UserStartedSpeakingFrame(), interim("hel"), final("Hello"), final("there."));
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(0);
    await s.send(new UserStoppedSpeakingFrame());
    expect(userMessages(context)).toEqual(["Hello there."]);
    expect(committed).toEqual(["Hello there."]);
    const pushed = s.down.ofType(LLMContextFrame);
    expect(pushed).toHaveLength(1);
    expect(pushed[0]!.context).toBe(context);
    // Transcripts (final and interim) are forwarded; the context frame follows the stop.
    expect(s.down.ofType(TranscriptionFrame).map((f) => f.text)).toEqual(["Hello", "there."]);
    expect(s.down.ofType(InterimTranscriptionFrame)).toHaveLength(1);
    const names = s.down.frames.map((f) => f.constructor.name);
    expect(names.indexOf("LLMContextFrame")).toBeGreaterThan(names.indexOf("UserStoppedSpeakingFrame"));
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("waits after the stop for the final of an interim transcript, and commits the moment it arrives", async () => {
    const { context, aggregator } = setup({ transcriptWaitMs: 1000 });
    const s = await started(aggregator);
    await s.send(
      new UserStartedSpeakingFrame(),
      final("What is"),
      interim("the wea"),
      new UserStoppedSpeakingFrame(),
    );
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(0); // "the wea…" is still being finalised
    await s.clock.advance(300);
    const t = s.clock.now();
    await s.send(final("the weather?"));
    expect(s.clock.now()).toBe(t);
    expect(userMessages(context)).toEqual(["What is the weather?"]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.advance(2000);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("waits for the first final when the turn has no words yet at the stop", async () => {
    const { context, aggregator } = setup({ transcriptWaitMs: 800 });
    const s = await started(aggregator);
    await s.send(new UserStartedSpeakingFrame(), new UserStoppedSpeakingFrame());
    await s.clock.advance(500);
    await s.send(final("Hi"));
    expect(userMessages(context)).toEqual(["Hi"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a turn with no words pushes nothing, says userTurnEmpty after the wait, and leaves no timer", async () => {
    const { context, aggregator, empty } = setup({ transcriptWaitMs: 800 });
    const s = await started(aggregator);
    const timersBefore = s.clock.pendingTimers;
    await s.send(new UserStartedSpeakingFrame(), interim("hm"), new UserStoppedSpeakingFrame());
    expect(s.clock.pendingTimers).toBe(timersBefore + 1);
    await s.clock.advance(799);
    expect(empty()).toBe(0);
    await s.clock.advance(1);
    expect(empty()).toBe(1);
    expect(s.clock.pendingTimers).toBe(timersBefore);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(0);
    expect(userMessages(context)).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("with the wait over, the turn's words go out; a final later than that is a turn of its own, answered at once", async () => {
    const { context, aggregator } = setup({ transcriptWaitMs: 500 });
    const s = await started(aggregator);
    await s.send(
      new UserStartedSpeakingFrame(),
      final("One"),
      interim("two"),
      new UserStoppedSpeakingFrame(),
    );
    await s.clock.advance(500);
    expect(userMessages(context)).toEqual(["One"]);
    await s.clock.advance(1500);
    await s.send(final("two"));
    expect(userMessages(context)).toEqual(["One", "two"]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(2);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("answers a final transcript that comes with no user turn at all (an STT without VAD)", async () => {
    const { context, aggregator } = setup();
    const s = await started(aggregator);
    await s.send(final("Are you there?"));
    expect(userMessages(context)).toEqual(["Are you there?"]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("keeps the words of a turn the user resumed before its final came", async () => {
    const { context, aggregator } = setup();
    const s = await started(aggregator);
    await s.send(new UserStartedSpeakingFrame(), interim("so"), new UserStoppedSpeakingFrame());
    await s.clock.advance(100);
    await s.send(
      new UserStartedSpeakingFrame(),
      final("So"),
      final("what now?"),
      new UserStoppedSpeakingFrame(),
    );
    expect(userMessages(context)).toEqual(["So what now?"]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("joins transcripts with spaces, but none between CJK text", async () => {
    const { context, aggregator } = setup();
    const s = await started(aggregator);
    await s.send(
      new UserStartedSpeakingFrame(),
      final("今日は"),
      final("いい天気ですね。"),
      new UserStoppedSpeakingFrame(),
    );
    await s.send(
      new UserStartedSpeakingFrame(),
      final("Good"),
      final("morning,"),
      final("Ana"),
      new UserStoppedSpeakingFrame(),
    );
    expect(userMessages(context)).toEqual(["今日はいい天気ですね。", "Good morning, Ana"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("bounds a turn's text by maxTurnChars: keeps its beginning, counts the rest, says it once", async () => {
    const { context, aggregator } = setup({ maxTurnChars: 20 });
    const s = await started(aggregator);
    await s.send(new UserStartedSpeakingFrame());
    for (let i = 0; i < 1000; i++) await s.send(final("word"));
    await s.send(new UserStoppedSpeakingFrame());
    const message = userMessages(context)[0] as string;
    expect(message.length).toBeLessThanOrEqual(20);
    expect(message).toBe("word word word word");
    // The piece that crossed the bound lost 4 characters, the 995 words after it 4 each.
    expect(aggregator.droppedChars).toBe(4 + 995 * 4);
    const warnings = s.lines.filter((l) => /maxTurnChars/.test(l.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/passed maxTurnChars \(20 characters\).*Raise maxTurnChars/);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("applies message and tool frames to the shared context and consumes them; a run becomes an LLMContextFrame", async () => {
    const { context, aggregator } = setup();
    const s = await started(aggregator);
    const weather = defineTool({
      name: "get_weather",
      description: "Weather in a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    });
    await s.send(new LLMMessagesAppendFrame([{ role: "user", content: "typed" }], false));
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(0);
    await s.send(new LLMMessagesAppendFrame([{ role: "user", content: "typed, run" }], true));
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.send(new LLMSetToolsFrame([weather], "required"));
    expect(context.tools.map((t) => t.name)).toEqual(["get_weather"]);
    expect(context.toolChoice).toBe("required");
    await s.send(new LLMRunFrame());
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(2);
    await s.send(new LLMMessagesUpdateFrame([{ role: "system", content: "New rules." }], true));
    expect(context.messages).toEqual([{ role: "system", content: "New rules." }]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(3);
    for (const type of [LLMMessagesAppendFrame, LLMMessagesUpdateFrame, LLMSetToolsFrame, LLMRunFrame])
      expect(s.down.ofType(type)).toHaveLength(0);
    expect(userMessages(context)).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a malformed appended message is an ErrorFrame naming it; nothing is added", async () => {
    const { context, aggregator } = setup();
    const s = await started(aggregator);
    await s.send(new LLMMessagesAppendFrame([{ role: "user", content: 42 } as never], true));
    expect(s.errors.map((e) => e.error.message).join("\n")).toMatch(/messages\[1\]/);
    expect(context.messages).toHaveLength(1);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("forwards what it does not handle, both ways", async () => {
    const { aggregator } = setup();
    const s = await started(aggregator);
    await s.send(new TextFrame("pass"));
    s.task.queueFrame(new LLMContextFrame(new LLMContext()), FrameDirection.UPSTREAM);
    await s.clock.settle();
    expect(s.down.ofType(TextFrame).map((f) => f.text)).toEqual(["pass"]);
    expect(s.up.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("commits on its timer even when the stop came from a turn an interruption has since ended", async () => {
    // A turn processor that decides the stop in its ordered lane (e.g. after a speech timeout):
    // the timer is armed inside that lane's turn, which the interruption then ends.
    class StopOnText extends FrameProcessor {
      override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
        if (frame instanceof TextFrame && !(frame instanceof TranscriptionFrame) && frame.text === "stop")
          return this.pushFrame(new UserStoppedSpeakingFrame());
        return super.processFrame(frame, direction);
      }
    }
    const { context, aggregator } = setup({ transcriptWaitMs: 500 });
    const s = await started(new StopOnText(), aggregator);
    await s.send(new UserStartedSpeakingFrame(), final("Hello"), interim("the"), new TextFrame("stop"));
    await s.send(new InterruptionFrame());
    await s.clock.advance(500);
    expect(userMessages(context)).toEqual(["Hello"]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("end and cancel during the wait: nothing pushed, no timer left", async () => {
    for (const how of ["end", "cancel"] as const) {
      const { aggregator } = setup();
      const s = await started(aggregator);
      await s.send(new UserStartedSpeakingFrame(), interim("wai"), new UserStoppedSpeakingFrame());
      expect(s.clock.pendingTimers).toBeGreaterThan(0);
      await s.clock.runUntil(how === "end" ? s.task.stopWhenDone() : s.task.cancel());
      await s.clock.advance(5000);
      expect(s.clock.pendingTimers).toBe(0);
      expect(s.down.ofType(LLMContextFrame)).toHaveLength(0);
      expect(s.timeouts).toEqual([]);
    }
  });

  it("refuses bad options with a message naming the option", () => {
    const context = new LLMContext();
    expect(() => new LLMUserAggregator(context, { transcriptWaitMs: -1 })).toThrow(InvalidOptionError);
    expect(() => new LLMUserAggregator(context, { transcriptWaitMs: Number.NaN })).toThrow(
      /transcriptWaitMs/,
    );
    expect(() => new LLMUserAggregator(context, { maxTurnChars: 0 })).toThrow(
      /maxTurnChars must be a whole number/,
    );
  });
});
