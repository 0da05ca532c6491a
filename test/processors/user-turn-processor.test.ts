import { describe, expect, it } from "vitest";
import { InterruptionFrame, InterruptionTaskFrame } from "../../src/frames/lifecycle.js";
import {
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../src/frames/speaking.js";
import { UserTurnProcessor } from "../../src/processors/user-turn-processor.js";
import { Sleep, runTest } from "../../src/testing/index.js";

const names = (frames: readonly { name: string }[]): string[] =>
  frames.map((f) => f.name.replace(/#\d+$/, ""));

describe("UserTurnProcessor", () => {
  it("turns VAD starts and stops into user turns, broadcast both ways, and interrupts the bot at each start", async () => {
    const turns = new UserTurnProcessor();
    const { down, up } = await runTest(turns, {
      framesToSend: [
        new VADUserStartedSpeakingFrame(),
        new Sleep(10),
        new VADUserStartedSpeakingFrame(), // a second start in the same turn: no second turn
        new Sleep(10),
        new VADUserStoppedSpeakingFrame(),
        new Sleep(10),
        new VADUserStoppedSpeakingFrame(), // a stop outside a turn: only forwarded
        new Sleep(10),
        new VADUserStartedSpeakingFrame(),
        new Sleep(10),
        new VADUserStoppedSpeakingFrame(),
      ],
    });
    expect(turns.turns).toBe(2);
    expect(names(down)).toEqual([
      "VADUserStartedSpeakingFrame",
      "UserStartedSpeakingFrame",
      "InterruptionFrame",
      "VADUserStartedSpeakingFrame",
      "VADUserStoppedSpeakingFrame",
      "UserStoppedSpeakingFrame",
      "VADUserStoppedSpeakingFrame",
      "VADUserStartedSpeakingFrame",
      "UserStartedSpeakingFrame",
      "InterruptionFrame",
      "VADUserStoppedSpeakingFrame",
      "UserStoppedSpeakingFrame",
    ]);
    expect(up.filter((f) => f instanceof UserStartedSpeakingFrame)).toHaveLength(2);
    expect(up.filter((f) => f instanceof UserStoppedSpeakingFrame)).toHaveLength(2);
    expect(up.filter((f) => f instanceof InterruptionTaskFrame)).toHaveLength(2);
  });

  it("with interruptions off, turns start and stop but nothing is interrupted", async () => {
    const { down, up } = await runTest(new UserTurnProcessor({ interruptions: false }), {
      framesToSend: [new VADUserStartedSpeakingFrame(), new Sleep(10), new VADUserStoppedSpeakingFrame()],
    });
    expect(down.some((f) => f instanceof InterruptionFrame)).toBe(false);
    expect(up.some((f) => f instanceof InterruptionTaskFrame)).toBe(false);
    expect(down.filter((f) => f instanceof UserStartedSpeakingFrame)).toHaveLength(1);
  });
});
