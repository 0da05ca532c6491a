import { describe, expect, it } from "vitest";
import { preemptiveFromEnv } from "../../examples/03-voice-bot/assistant-bot.js";

describe("the assistant's VOICEPIPE_PREEMPTIVE", () => {
  it("is on when unset, empty, 1 / on / true / yes; off for 0 / off / false / no (any case, spaces ignored); anything else is refused", () => {
    expect(preemptiveFromEnv({})).toBe(true);
    for (const on of ["1", "on", "true", "", "yes", " YES "])
      expect(preemptiveFromEnv({ VOICEPIPE_PREEMPTIVE: on })).toBe(true);
    for (const off of ["0", "off", "false", " OFF ", "False", "no"])
      expect(preemptiveFromEnv({ VOICEPIPE_PREEMPTIVE: off })).toBe(false);
    for (const odd of ["nope", "2", "disable"])
      expect(() => preemptiveFromEnv({ VOICEPIPE_PREEMPTIVE: odd })).toThrow(
        new RegExp(`VOICEPIPE_PREEMPTIVE must be on or off.*${JSON.stringify(odd)}`),
      );
  });
});
