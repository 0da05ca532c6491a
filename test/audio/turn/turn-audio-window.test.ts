import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TurnAudioWindow } from "../../../src/audio/turn/smart-turn/turn-audio-window.js";

describe("TurnAudioWindow", () => {
  it("holds exactly what a growing array cut to its limit would hold, for any chunks (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2500 }), fc.boolean()), { maxLength: 40 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        (chunks, capacity, pre) => {
          const preSpeech = Math.min(pre, capacity);
          const window = new TurnAudioWindow(capacity, preSpeech);
          let reference: number[] = [];
          let speech = false;
          let next = 1;
          for (const [size, isSpeech] of chunks) {
            const chunk = Int16Array.from({ length: size }, () => next++ % 30000);
            window.append(chunk, isSpeech);
            speech ||= isSpeech;
            reference = reference.concat([...chunk]);
            const limit = speech ? capacity : preSpeech;
            reference = reference.slice(Math.max(0, reference.length - limit));
            expect(window.length).toBe(reference.length);
            expect(window.length).toBeLessThanOrEqual(capacity);
          }
          const out = window.copyPadded();
          expect(out).toHaveLength(capacity);
          expect([...out.subarray(capacity - reference.length)]).toEqual(reference);
          expect(out.subarray(0, capacity - reference.length).every((s) => s === 0)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps the last 8 s of a 10-minute turn, in the same 256 KB it started with", () => {
    const window = new TurnAudioWindow(128_000, 11_200);
    const chunk = new Int16Array(320);
    for (let i = 0; i < (10 * 60 * 16_000) / 320; i++) {
      chunk.fill(i % 1000);
      window.append(chunk, true);
    }
    expect(window.length).toBe(128_000);
    const out = window.copyPadded();
    expect(out[127_999]).toBe((30_000 - 1) % 1000); // the newest chunk is last
  });

  it("forgets the turn on clear()", () => {
    const window = new TurnAudioWindow(100, 10);
    window.append(new Int16Array(50).fill(3), true);
    window.clear();
    expect(window.length).toBe(0);
    expect(window.speechSeen).toBe(false);
    window.append(new Int16Array(50).fill(3), false); // quiet again: only the pre-speech allowance stays
    expect(window.length).toBe(10);
  });
});
