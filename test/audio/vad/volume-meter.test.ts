import { describe, expect, it } from "vitest";
import { VolumeMeter, windowVolume } from "../../../src/audio/vad/index.js";

function sine(dbfs: number, n = 512): Float32Array {
  // A sine's RMS is its amplitude / √2.
  const amplitude = 10 ** (dbfs / 20) * Math.SQRT2;
  return Float32Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * 440 * i) / 16000));
}

describe("windowVolume", () => {
  it("maps RMS level linearly from −110 dBFS (0) to −10 dBFS (1)", () => {
    expect(windowVolume(sine(-50))).toBeCloseTo(0.6, 2);
    expect(windowVolume(sine(-30))).toBeCloseTo(0.8, 2);
    expect(windowVolume(sine(-60))).toBeCloseTo(0.5, 2);
  });

  it("is 0 for digital silence and 1 at or above −10 dBFS", () => {
    expect(windowVolume(new Float32Array(512))).toBe(0);
    expect(windowVolume(sine(-3))).toBe(1);
  });
});

describe("VolumeMeter", () => {
  it("rises fast (attack 0.5) and falls slowly (release 0.2)", () => {
    const meter = new VolumeMeter();
    const loud = sine(-30);
    const v1 = meter.measure(loud);
    expect(v1).toBeCloseTo(0.4, 2);
    expect(meter.measure(loud)).toBeCloseTo(0.6, 2);
    const falling = meter.measure(new Float32Array(512));
    expect(falling).toBeCloseTo(0.6 * 0.8, 2);
  });

  it("reset forgets the history", () => {
    const meter = new VolumeMeter();
    meter.measure(sine(-20));
    meter.reset();
    expect(meter.volume).toBe(0);
  });
});
