/**
 * The echo bot's recording (examples/03-voice-bot/echo.ts): what it plays back is exactly the
 * last `prerollMs` of audio before the turn, then the turn's audio up to `maxUtteranceMs`, for any
 * frame sizes, levels, turn lengths and rates. The reference below keeps the frames, as the bot
 * once did; the bot copies samples into a ring and reused blocks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  InputAudioRawFrame,
  TTSAudioRawFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { EchoProcessor } from "../../examples/03-voice-bot/echo.js";
import { startTask } from "../support/task.js";

const ANNOUNCEMENT = { audio: new Int16Array([7, 7, 7]), sampleRate: 24_000 };

type Step =
  { kind: "audio"; samples: number; rate: number; seed: number } | { kind: "start" } | { kind: "stop" };

/** What the bot should play for each turn: the reference model. */
function expected(steps: readonly Step[], prerollMs: number, maxMs: number, minMs: number): Int16Array[] {
  const out: Int16Array[] = [];
  let rate = 0;
  let preroll: number[] = [];
  let turn: number[] | undefined;
  let spokenMs = 0;
  for (const step of steps) {
    if (step.kind === "audio") {
      const samples = audioOf(step);
      const ms = (samples.length / step.rate) * 1000;
      if (samples.length === 0) continue;
      if (step.rate !== rate) {
        if (turn && turn.length > 0) continue;
        rate = step.rate;
        preroll = [];
        if (turn) turn = [];
      }
      if (turn) {
        if (spokenMs + ms > maxMs) continue;
        turn.push(...samples);
        spokenMs += ms;
      } else {
        preroll.push(...samples);
        const keep = Math.round((prerollMs / 1000) * rate);
        preroll = keep === 0 ? [] : preroll.slice(-keep);
      }
    } else if (step.kind === "start") {
      turn = preroll;
      preroll = [];
      spokenMs = 0;
    } else {
      if (turn && spokenMs >= minMs && turn.length > 0) out.push(Int16Array.from(turn));
      turn = undefined;
      spokenMs = 0;
    }
  }
  return out;
}

function audioOf(step: Extract<Step, { kind: "audio" }>): Int16Array {
  return Int16Array.from({ length: step.samples }, (_, i) => ((step.seed * 131 + i * 17) % 60_000) - 30_000);
}

describe("the echo bot's recording", () => {
  it("property: plays back exactly the pre-roll and the turn, capped, for any frames, turns and rates", async () => {
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant("audio" as const),
          samples: fc.integer({ min: 0, max: 20_000 }),
          rate: fc.constantFrom(16_000, 16_000, 16_000, 8_000),
          seed: fc.nat(1000),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: "start" as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: "stop" as const }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 40 }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 100, max: 3_000 }),
        async (steps, prerollMs, maxMs) => {
          const echo = new EchoProcessor({
            announcement: ANNOUNCEMENT,
            prerollMs,
            maxUtteranceMs: maxMs,
            minUtteranceMs: 50,
          });
          const down = new FrameRecorder();
          const s = startTask([echo, down]);
          await s.whenStarted();
          for (const st of steps) {
            s.task.queueFrame(
              st.kind === "audio"
                ? new InputAudioRawFrame(audioOf(st), st.rate)
                : st.kind === "start"
                  ? new UserStartedSpeakingFrame()
                  : new UserStoppedSpeakingFrame(),
            );
            await s.clock.settle();
          }
          const played = down
            .ofType(TTSAudioRawFrame)
            .filter((f) => f.audio !== ANNOUNCEMENT.audio)
            .map((f) => f.audio);
          expect(played).toEqual(expected(steps, prerollMs, maxMs, 50));
          await s.clock.runUntil(s.task.stopWhenDone());
        },
      ),
      { numRuns: 200 },
    );
  });
});
