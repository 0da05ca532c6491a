import { describe, expect, it } from "vitest";
import {
  InterruptionFrame,
  LLMContext,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  TTSTextFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../../src/index.js";
import { LLMContextAggregatorPair } from "../../../src/processors/aggregators/index.js";
import { started } from "./support.js";

describe("LLMContextAggregatorPair", () => {
  it("wires one context into both sides: user turn, spoken answer, barge-in, next turn", async () => {
    const context = new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
    const pair = new LLMContextAggregatorPair(context, { user: { transcriptWaitMs: 700 } });
    expect(pair.user().llmContext).toBe(context);
    expect(pair.assistant().llmContext).toBe(context);
    expect(pair.assistant().userTurnWaitMs).toBe(900);
    // Stand-ins for LLM + TTS + output between the two: frames are queued as they would arrive.
    const s = await started(pair.user(), pair.assistant());
    const say = (text: string) => new TranscriptionFrame(text, "u", 0);
    await s.send(new UserStartedSpeakingFrame(), say("Tell me a joke."), new UserStoppedSpeakingFrame());
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(1);
    await s.send(new LLMFullResponseStartFrame(), new TTSTextFrame("Why"), new TTSTextFrame("did"));
    await s.send(
      new UserStartedSpeakingFrame(),
      new InterruptionFrame(),
      say("Stop."),
      new UserStoppedSpeakingFrame(),
    );
    await s.send(new LLMFullResponseEndFrame());
    expect(context.messages.slice(1)).toEqual([
      { role: "user", content: "Tell me a joke." },
      { role: "assistant", content: "Why did", interrupted: true },
      { role: "user", content: "Stop." },
    ]);
    expect(s.down.ofType(LLMContextFrame)).toHaveLength(2);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});
