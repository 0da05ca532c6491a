import { describe, expect, it } from "vitest";
import {
  PcmFormatError,
  applyGain,
  bytesToInt16,
  convertChannels,
  dbToGain,
  dbfs,
  deinterleave,
  downmixToMono,
  float32ToInt16,
  int16ToBytes,
  int16ToFloat32,
  interleave,
  isSilence,
  mixAudio,
  peak,
  rms,
  silence,
} from "../../src/audio/pcm.js";
import { sine } from "./signals.js";

const I16 = (...values: number[]) => Int16Array.from(values);

describe("mixAudio", () => {
  it("adds samples and clips the sum at both ends of the PCM16 range", () => {
    const out = mixAudio(I16(30000, -30000, 100, 0), I16(10000, -10000, -50, 7));
    expect(Array.from(out)).toEqual([32767, -32768, 50, 7]);
  });

  it("mixes a shorter buffer into a longer one as if padded with silence", () => {
    expect(Array.from(mixAudio(I16(1, 2, 3, 4, 5), I16(10, 20)))).toEqual([11, 22, 3, 4, 5]);
    expect(Array.from(mixAudio(I16(10, 20), I16(1, 2, 3, 4, 5)))).toEqual([11, 22, 3, 4, 5]);
  });

  it("scales the second buffer by gainB, also where it is longer", () => {
    const out = mixAudio(I16(100), I16(1000, -1000, 30000), 0.5);
    expect(Array.from(out)).toEqual([600, -500, 15000]);
  });

  it("does not modify its inputs", () => {
    const a = I16(30000, 1);
    const b = I16(30000, 2);
    mixAudio(a, b, 0.3);
    expect(Array.from(a)).toEqual([30000, 1]);
    expect(Array.from(b)).toEqual([30000, 2]);
  });

  it("rejects a negative or non-finite gain with a PcmFormatError", () => {
    expect(() => mixAudio(I16(1), I16(1), -1)).toThrow(PcmFormatError);
    expect(() => mixAudio(I16(1), I16(1), Number.NaN)).toThrow(/gainB/);
  });
});

describe("applyGain", () => {
  it("scales, rounds to the nearest integer and clips", () => {
    expect(Array.from(applyGain(I16(100, -100, 3, 20000, -20000), 2))).toEqual([200, -200, 6, 32767, -32768]);
    expect(Array.from(applyGain(I16(5, -5, 1000), 0.5))).toEqual([3, -2, 500]);
  });

  it("makes -6 dB close to half amplitude", () => {
    expect(dbToGain(-6)).toBeCloseTo(0.501, 3);
    expect(dbToGain(0)).toBe(1);
  });

  it("rejects a negative gain with a PcmFormatError", () => {
    expect(() => applyGain(I16(1), -0.5)).toThrow(PcmFormatError);
  });
});

describe("levels", () => {
  it("measures RMS and dBFS of a sine as amplitude/√2", () => {
    const tone = sine(1000, 16000, 0.5, 16384); // whole number of periods
    expect(rms(tone)).toBeCloseTo(16384 / Math.SQRT2, 0);
    expect(dbfs(tone)).toBeCloseTo(20 * Math.log10(0.5 / Math.SQRT2), 2);
  });

  it("puts a full-scale square wave at 0 dBFS and silence at -Infinity", () => {
    const square = Int16Array.from({ length: 100 }, (_, i) => (i % 2 ? -32768 : 32767));
    expect(dbfs(square)).toBeCloseTo(0, 3);
    expect(dbfs(silence(10))).toBe(-Infinity);
    expect(rms(new Int16Array(0))).toBe(0);
  });

  it("reports the peak absolute sample, including -32768", () => {
    expect(peak(I16(3, -7, 5))).toBe(7);
    expect(peak(I16(-32768))).toBe(32768);
  });
});

describe("isSilence", () => {
  it("treats a chunk as silence when its peak is at most 20 by default", () => {
    expect(isSilence(I16(0, 20, -20, 5))).toBe(true);
    expect(isSilence(I16(0, 21))).toBe(false);
    expect(isSilence(I16(-21, 0))).toBe(false);
    expect(isSilence(new Int16Array(0))).toBe(true);
  });

  it("uses a custom threshold when given", () => {
    expect(isSilence(I16(100, -100), 100)).toBe(true);
    expect(isSilence(I16(100, -101), 100)).toBe(false);
  });

  it("is peak-based: one loud sample makes a quiet chunk non-silent", () => {
    const chunk = new Int16Array(1600);
    chunk[800] = 1000;
    expect(rms(chunk)).toBeLessThan(30);
    expect(isSilence(chunk)).toBe(false);
  });
});

describe("channel layout", () => {
  it("interleaves mono channels as L0 R0 L1 R1 …", () => {
    expect(Array.from(interleave([I16(1, 2, 3), I16(-1, -2, -3)]))).toEqual([1, -1, 2, -2, 3, -3]);
  });

  it("splits interleaved audio back into the same channels", () => {
    const left = I16(1, 2, 3, 4);
    const right = I16(9, 8, 7, 6);
    const centre = I16(0, 5, 0, 5);
    const [l, r, c] = deinterleave(interleave([left, right, centre]), 3);
    expect([l, r, c].map((x) => Array.from(x!))).toEqual([
      [1, 2, 3, 4],
      [9, 8, 7, 6],
      [0, 5, 0, 5],
    ]);
  });

  it("rejects channels of different lengths and partial frames with a PcmFormatError", () => {
    expect(() => interleave([I16(1, 2), I16(1)])).toThrow(PcmFormatError);
    expect(() => deinterleave(I16(1, 2, 3), 2)).toThrow(/whole number of 2-channel frames/);
    try {
      deinterleave(I16(1), 0);
      expect.unreachable();
    } catch (error) {
      expect((error as PcmFormatError).code).toBe("VP_PCM_FORMAT");
    }
  });

  it("downmixes stereo to mono by averaging", () => {
    expect(Array.from(downmixToMono(I16(100, 300, -10, -20, 32767, 32767), 2))).toEqual([200, -15, 32767]);
  });

  it("convertChannels averages to fewer channels, copies to more, and returns same-layout audio as is", () => {
    const stereo = I16(100, 300, -10, -20);
    expect(convertChannels(stereo, 2, 2)).toBe(stereo);
    expect(Array.from(convertChannels(stereo, 2, 1))).toEqual([200, -15]);
    expect(Array.from(convertChannels(I16(5, -7), 1, 3))).toEqual([5, 5, 5, -7, -7, -7]);
    expect(Array.from(convertChannels(stereo, 2, 3))).toEqual([100, 300, 100, -10, -20, -10]);
    // 4 → 2 folds channels 0+2 and 1+3.
    expect(Array.from(convertChannels(I16(10, 20, 30, 41), 4, 2))).toEqual([20, 31]);
    expect(() => convertChannels(I16(1, 2, 3), 2, 1)).toThrow(PcmFormatError);
    expect(() => convertChannels(I16(1, 2), 2, 0)).toThrow(/outChannels must be a positive integer/);
  });
});

describe("float conversion", () => {
  it("maps PCM16 to [-1, 1) with -32768 at -1", () => {
    expect(Array.from(int16ToFloat32(I16(-32768, 0, 16384, 32767)))).toEqual([-1, 0, 0.5, 32767 / 32768]);
  });

  it("maps floats to PCM16 with rounding and clipping, and NaN to 0", () => {
    expect(
      Array.from(float32ToInt16(Float32Array.from([1, -1, 0.5, 1.5, -2, Number.NaN, 0.25 / 32768]))),
    ).toEqual([32767, -32768, 16384, 32767, -32768, 0, 0]);
  });

  it("round-trips every PCM16 value exactly", () => {
    const all = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
    const back = float32ToInt16(int16ToFloat32(all));
    let mismatches = 0;
    for (let i = 0; i < all.length; i++) if (back[i] !== all[i]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it("writes into a caller's buffer and rejects one of the wrong length", () => {
    const out = new Float32Array(2);
    expect(int16ToFloat32(I16(16384, -16384), out)).toBe(out);
    expect(Array.from(out)).toEqual([0.5, -0.5]);
    expect(() => float32ToInt16(new Float32Array(3), new Int16Array(2))).toThrow(PcmFormatError);
  });
});

describe("byte views", () => {
  it("reads bytes as little-endian PCM16", () => {
    expect(Array.from(bytesToInt16(Uint8Array.from([0x01, 0x02, 0xff, 0xff, 0x00, 0x80])))).toEqual([
      0x0201, -1, -32768,
    ]);
  });

  it("returns a view over an aligned buffer, sharing memory", () => {
    const bytes = Uint8Array.from([0, 0, 0, 0]);
    const samples = bytesToInt16(bytes);
    samples[1] = 0x0102;
    expect(Array.from(bytes)).toEqual([0, 0, 0x02, 0x01]);
  });

  it("copies correctly from an odd byte offset (a sliced Buffer)", () => {
    const backing = new Uint8Array([0xaa, 0x34, 0x12, 0xfe, 0xff]);
    expect(Array.from(bytesToInt16(backing.subarray(1)))).toEqual([0x1234, -2]);
  });

  it("rejects an odd number of bytes with a PcmFormatError", () => {
    expect(() => bytesToInt16(new Uint8Array(3))).toThrow(/even number of bytes/);
  });

  it("writes samples as little-endian bytes", () => {
    const samples = I16(0x0201, -1, -32768);
    const bytes = int16ToBytes(samples.subarray(1));
    expect(Array.from(bytes)).toEqual([0xff, 0xff, 0x00, 0x80]);
    expect(bytesToInt16(int16ToBytes(samples))).toEqual(samples);
  });
});

describe("silence", () => {
  it("returns that many zero samples", () => {
    const s = silence(480);
    expect(s.length).toBe(480);
    expect(peak(s)).toBe(0);
  });

  it("rejects a negative or fractional length", () => {
    expect(() => silence(-1)).toThrow(PcmFormatError);
    expect(() => silence(1.5)).toThrow(PcmFormatError);
  });
});
