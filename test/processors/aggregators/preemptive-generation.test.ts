import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Frame,
  InterimTranscriptionFrame,
  InvalidOptionError,
  LLMContext,
  LLMContextFrame,
  LLMMessagesAppendFrame,
  LLMPreemptiveContextFrame,
  STTEndOfTurnFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../../src/index.js";
import { LLMUserAggregator } from "../../../src/processors/aggregators/index.js";
import { started } from "./support.js";

const final = (text: string) => new TranscriptionFrame(text, "user", 0);
const interim = (text: string) => new InterimTranscriptionFrame(text, "user", 0);
const endOfTurn = () => new STTEndOfTurnFrame("speech_final", 0);

function setup(
  preemptiveGeneration: ConstructorParameters<typeof LLMUserAggregator>[1] = { preemptiveGeneration: true },
) {
  const context = new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
  const aggregator = new LLMUserAggregator(context, preemptiveGeneration);
  return { context, aggregator };
}

/** What each preemptive frame asked: its message's text, and the context's length then. */
function asked(frames: readonly LLMPreemptiveContextFrame[]): string[] {
  return frames.map((f) => String(f.message.content));
}

describe("LLMUserAggregator with preemptiveGeneration", () => {
  it("off by default: no preemptive frame, whatever the signals", async () => {
    const { aggregator } = setup({});
    expect(aggregator.preemptiveMaxPerTurn).toBe(0);
    const s = await started(aggregator);
    await s.send(
      new UserStartedSpeakingFrame(),
      final("Hello."),
      endOfTurn(),
      new VADUserStoppedSpeakingFrame(),
    );
    await s.send(new UserStoppedSpeakingFrame());
    expect(s.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(0);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("the STT's end of turn asks with the turn's words; the commit then adds exactly that message to exactly that context", async () => {
    const { context, aggregator } = setup();
    const s = await started(aggregator);
    await s.send(
      new UserStartedSpeakingFrame(),
      new VADUserStartedSpeakingFrame(),
      final("What time"),
      final("is it?"),
    );
    expect(s.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(0); // the VAD still hears the user
    await s.send(endOfTurn());
    const [pre] = s.down.ofType(LLMPreemptiveContextFrame);
    expect(pre!.message).toEqual({ role: "user", content: "What time is it?" });
    expect(pre!.context).toBe(context);
    const before = context.snapshot();
    await s.send(new VADUserStoppedSpeakingFrame(), new UserStoppedSpeakingFrame());
    // Same words at the VAD stop: not asked again.
    expect(s.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(1);
    const after = context.snapshot();
    expect(after.messages.slice(0, -1)).toEqual(before.messages);
    expect(after.messages.at(-1)).toEqual(pre!.message);
    expect(after.tools).toBe(before.tools);
    // The order downstream: the preemptive frame before the stop and the context frame.
    const names = s.down.frames.map((f) => f.constructor.name);
    expect(names.indexOf("LLMPreemptiveContextFrame")).toBeLessThan(names.indexOf("LLMContextFrame"));
    expect(aggregator.preemptiveRequests).toBe(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a final while the VAD hears silence asks; a final while it hears speech does not; an interim pending holds it back", async () => {
    const { aggregator } = setup();
    const s = await started(aggregator);
    await s.send(new UserStartedSpeakingFrame(), new VADUserStartedSpeakingFrame(), final("One"));
    expect(s.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(0);
    await s.send(interim("two"), new VADUserStoppedSpeakingFrame());
    expect(s.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(0); // "two" is still coming
    await s.send(final("two."));
    expect(asked(s.down.ofType(LLMPreemptiveContextFrame))).toEqual(["One two."]);
    await s.send(new VADUserStartedSpeakingFrame(), final("Three."), new VADUserStoppedSpeakingFrame());
    expect(asked(s.down.ofType(LLMPreemptiveContextFrame))).toEqual(["One two.", "One two. Three."]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("at most maxPerTurn requests in a turn; the next turn starts a new count", async () => {
    const { aggregator } = setup({ preemptiveGeneration: { maxPerTurn: 2 } });
    const s = await started(aggregator);
    await s.send(new UserStartedSpeakingFrame());
    for (const word of ["a", "b", "c", "d"]) await s.send(final(word), endOfTurn());
    expect(asked(s.down.ofType(LLMPreemptiveContextFrame))).toEqual(["a", "a b"]);
    await s.send(new UserStoppedSpeakingFrame(), new UserStartedSpeakingFrame(), final("e"), endOfTurn());
    expect(asked(s.down.ofType(LLMPreemptiveContextFrame))).toEqual(["a", "a b", "e"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("nothing outside an open turn: a final with no turn commits at once, a stop waiting for its final does not ask", async () => {
    const { aggregator } = setup();
    const s = await started(aggregator);
    await s.send(final("Lone words."), endOfTurn());
    await s.send(new UserStartedSpeakingFrame(), interim("hm"), new UserStoppedSpeakingFrame(), endOfTurn());
    expect(s.down.ofType(LLMPreemptiveContextFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("refuses a preemptiveGeneration that is not a boolean or an options object (null, a string, a number, an array)", () => {
    for (const bad of [null, "yes", 1, []])
      expect(() => setup({ preemptiveGeneration: bad as never })).toThrow(
        /preemptiveGeneration must be true, false or \{ maxPerTurn \}/,
      );
    expect(setup({ preemptiveGeneration: {} }).aggregator.preemptiveMaxPerTurn).toBe(3);
    expect(setup({ preemptiveGeneration: false }).aggregator.preemptiveMaxPerTurn).toBe(0);
  });

  it("refuses a maxPerTurn that is not a whole number ≥ 1", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => setup({ preemptiveGeneration: { maxPerTurn: bad } })).toThrow(InvalidOptionError);
  });

  it("property: in a turn, at most maxPerTurn preemptive frames, each with new words, trimmed, never empty, and only inside an open turn", async () => {
    const step = fc.oneof(
      fc.constant<() => Frame>(() => new UserStartedSpeakingFrame()),
      fc.constant<() => Frame>(() => new UserStoppedSpeakingFrame()),
      fc.constant<() => Frame>(() => new VADUserStartedSpeakingFrame()),
      fc.constant<() => Frame>(() => new VADUserStoppedSpeakingFrame()),
      fc.constant<() => Frame>(endOfTurn),
      fc.constantFrom("yes", "no", " maybe ", "").map((w) => () => final(w)),
      fc.constantFrom("ye", "n").map((w) => () => interim(w)),
      fc.constant<() => Frame>(() => new LLMMessagesAppendFrame([{ role: "system", content: "note" }])),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 40 }),
        fc.integer({ min: 1, max: 3 }),
        async (steps, max) => {
          const { aggregator } = setup({ preemptiveGeneration: { maxPerTurn: max }, transcriptWaitMs: 50 });
          const s = await started(aggregator);
          for (const make of steps) await s.send(make());
          await s.clock.advance(100);
          let inTurn = 0;
          let open = false;
          let last: string | undefined;
          for (const frame of s.down.frames) {
            if (frame instanceof UserStartedSpeakingFrame) open = true;
            if (frame instanceof LLMPreemptiveContextFrame) {
              expect(open).toBe(true);
              inTurn++;
              expect(inTurn).toBeLessThanOrEqual(max);
              const text = String(frame.message.content);
              expect(text).not.toBe(last);
              expect(text.trim()).toBe(text);
              expect(text).not.toBe("");
              last = text;
            }
            if (frame instanceof LLMContextFrame) {
              open = false;
              inTurn = 0;
              last = undefined;
            }
          }
          await s.clock.runUntil(s.task.stopWhenDone());
        },
      ),
      { numRuns: 200 },
    );
  });
});
