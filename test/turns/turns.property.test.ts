import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FunctionCallCancelFrame, FunctionCallResultFrame } from "../../src/frames/function-calls.js";
import type { Frame } from "../../src/frames/frame.js";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  UserSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../src/frames/speaking.js";
import { STTEndOfTurnFrame } from "../../src/frames/turn.js";
import {
  AlwaysMuteStrategy,
  FirstBotAnswerMuteStrategy,
  FunctionCallMuteStrategy,
  MinWordsStartStrategy,
  STTEndOfTurnStopStrategy,
  SpeechTimeoutStopStrategy,
  TranscriptionStartStrategy,
  VADStartStrategy,
} from "../../src/turns/index.js";
import { call, callsStarted, final, interim, turnFrames, turnHarness, up } from "./support.js";

const WATCHDOG_MS = 5000;

type Step =
  | { t: "vadStart" | "vadStop" | "speaking" | "sttEnd" | "botStart" | "botStop" }
  | { t: "interim" | "final"; words: number }
  | { t: "calls" | "result" | "cancel"; id: number }
  | { t: "sleep"; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constantFrom<Step>(
    { t: "vadStart" },
    { t: "vadStop" },
    { t: "speaking" },
    { t: "sttEnd" },
    { t: "botStart" },
    { t: "botStop" },
  ),
  fc.record({
    t: fc.constantFrom<"interim" | "final">("interim", "final"),
    words: fc.integer({ min: 0, max: 4 }),
  }),
  fc.record({
    t: fc.constantFrom<"calls" | "result" | "cancel">("calls", "result", "cancel"),
    id: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ t: fc.constant<"sleep">("sleep"), ms: fc.integer({ min: 0, max: 7000 }) }),
);

function frameOf(s: Step): Frame | [Frame, "upstream"] | undefined {
  const text = (n: number): string => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");
  switch (s.t) {
    case "vadStart":
      return new VADUserStartedSpeakingFrame(200);
    case "vadStop":
      return new VADUserStoppedSpeakingFrame(200);
    case "speaking":
      return new UserSpeakingFrame();
    case "sttEnd":
      return new STTEndOfTurnFrame("speech_final", 0);
    case "botStart":
      return up(new BotStartedSpeakingFrame()) as [Frame, "upstream"];
    case "botStop":
      return up(new BotStoppedSpeakingFrame()) as [Frame, "upstream"];
    case "interim":
      return interim(text(s.words));
    case "final":
      return final(text(s.words));
    case "calls":
      return up(callsStarted(`c${s.id}`)) as [Frame, "upstream"];
    case "result":
      return up(new FunctionCallResultFrame(call(`c${s.id}`), "ok")) as [Frame, "upstream"];
    case "cancel":
      return up(new FunctionCallCancelFrame(call(`c${s.id}`))) as [Frame, "upstream"];
    case "sleep":
      return undefined;
  }
}

/** Start/stop (or mute/unmute) alternate, beginning with the first. */
function alternates(seq: readonly string[], a: string, b: string): boolean {
  const only = seq.filter((s) => s === a || s === b);
  return only.every((s, i) => s === (i % 2 === 0 ? a : b));
}

const configs = [
  () => ({
    startStrategies: [new VADStartStrategy(), new TranscriptionStartStrategy()],
    stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 }), new STTEndOfTurnStopStrategy()],
    muteStrategies: [new FunctionCallMuteStrategy(), new FirstBotAnswerMuteStrategy()],
  }),
  () => ({
    startStrategies: [new MinWordsStartStrategy({ minWords: 2 })],
    muteStrategies: [new AlwaysMuteStrategy(), new FunctionCallMuteStrategy()],
  }),
];

describe("UserTurnProcessor properties (any order of VAD, transcript, bot, function-call and mute frames)", () => {
  it("turn starts and stops alternate both ways; mutes end once their conditions end; the watchdog ends every turn in its bound", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 40 }),
        fc.integer({ min: 0, max: 1 }),
        async (steps, which) => {
          const h = await turnHarness({
            ...configs[which]!(),
            userTurnStopTimeoutMs: WATCHDOG_MS,
            userIdleTimeoutMs: 2000,
          });
          let lastSignMs = 0;
          for (const s of steps) {
            if (s.t === "sleep") {
              await h.advance(s.ms);
              continue;
            }
            const f = frameOf(s)!;
            await h.send(Array.isArray(f) ? [f[0], f[1]] : f);
            if (["vadStart", "vadStop", "speaking", "interim", "final", "sttEnd"].includes(s.t))
              lastSignMs = h.clock.now();
          }
          // The watchdog: no sign of the user for its bound ends any turn.
          await h.advance(WATCHDOG_MS);
          expect(h.turns.inTurn).toBe(false);
          for (const e of h.events.filter((x) => x.kind === "stop" && x.strategy === "watchdog")) {
            expect(e.atMs).toBeLessThanOrEqual(lastSignMs + WATCHDOG_MS);
          }
          // Every condition ends: the calls settle, the bot stops; past the bounds nobody is muted.
          for (let id = 0; id < 4; id++) await h.send(up(new FunctionCallCancelFrame(call(`c${id}`))));
          await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
          expect(h.turns.muted).toBe(false);
          for (const frames of [h.down.frames, h.up.frames]) {
            const seq = turnFrames(frames);
            expect(alternates(seq, "start", "stop")).toBe(true);
            expect(alternates(seq, "mute", "unmute")).toBe(true);
            expect(seq.filter((s) => s === "mute").length).toBe(seq.filter((s) => s === "unmute").length);
            expect(seq.filter((s) => s === "start").length).toBe(seq.filter((s) => s === "stop").length);
          }
          await h.finish();
          expect(h.clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
