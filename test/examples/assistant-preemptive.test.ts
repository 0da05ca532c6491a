import { describe, expect, it } from "vitest";
import { preemptiveFromEnv } from "../../examples/03-voice-bot/assistant-bot.js";

describe("the assistant's VOICEPIPE_PREEMPTIVE", () => {
  it("is on when unset or anything but 0 / off / false (any case, spaces ignored)", () => {
    expect(preemptiveFromEnv({})).toBe(true);
    for (const on of ["1", "on", "true", "", "yes"])
      expect(preemptiveFromEnv({ VOICEPIPE_PREEMPTIVE: on })).toBe(true);
    for (const off of ["0", "off", "false", " OFF ", "False"])
      expect(preemptiveFromEnv({ VOICEPIPE_PREEMPTIVE: off })).toBe(false);
  });
});
