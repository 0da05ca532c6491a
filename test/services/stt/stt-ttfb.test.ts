import { describe, expect, it } from "vitest";
import { STTTtfb } from "../../../src/services/stt/stt-ttfb.js";

describe("STTTtfb: user stop → final transcript", () => {
  it("measures from the stop to the first final when no finalize was asked", () => {
    const t = new STTTtfb(5_000);
    expect(t.final(100, false)).toBeUndefined(); // no stop yet
    t.stopped(1_000, false);
    expect(t.final(1_250, false)).toBe(250);
    expect(t.final(1_300, false)).toBeUndefined(); // answered once
  });

  it("with a finalize asked, waits for the provider's answer to it, not an earlier final", () => {
    const t = new STTTtfb(5_000);
    t.stopped(1_000, true);
    expect(t.final(1_010, false)).toBeUndefined();
    expect(t.final(1_180, true)).toBe(180);
  });

  it("gives nothing for an answer past the window, or after the user spoke again", () => {
    const t = new STTTtfb(500);
    t.stopped(0, false);
    expect(t.final(501, false)).toBeUndefined();
    t.stopped(1_000, false);
    t.reset();
    expect(t.final(1_100, false)).toBeUndefined();
  });
});
