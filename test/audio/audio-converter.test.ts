import { describe, expect, it } from "vitest";
import { AudioConverter } from "../../src/audio/audio-converter.js";
import { deinterleave, interleave } from "../../src/audio/pcm.js";
import { InvalidSampleRateError, createStreamResampler } from "../../src/audio/resampler.js";
import { VirtualClock } from "../../src/clock/virtual-clock.js";
import { chunks, concat, sine, sineFitSnrDb } from "./signals.js";

/** What one stream resampler makes of a whole mono signal. */
async function reference(audio: Int16Array, inRate: number, outRate: number): Promise<Int16Array> {
  const r = await createStreamResampler({ inRate, outRate });
  const out = r.resample(audio);
  r.dispose();
  return out;
}

describe("AudioConverter", () => {
  it("downmixes stereo before resampling: the same samples as resampling the mono average", async () => {
    const left = sine(300, 48_000, 0.3, 10_000);
    const right = sine(300, 48_000, 0.3, 6_000);
    const converter = new AudioConverter({ outRate: 16_000 });
    await converter.prepare(48_000, 2);
    const parts = chunks(interleave([left, right]), 2 * 331).map((c) => converter.convert(c, 48_000, 2));
    const mono = Int16Array.from(left, (l, i) => Math.round((l + right[i]!) / 2));
    expect(Array.from(concat(parts))).toEqual(Array.from(await reference(mono, 48_000, 16_000)));
    converter.dispose();
  });

  it("upmixes mono after resampling, at the output's channel count", async () => {
    const mono = sine(440, 8_000, 0.25, 8_000);
    const converter = new AudioConverter({ outRate: 16_000, outChannels: 2 });
    await converter.prepare(8_000, 1);
    const out = concat(chunks(mono, 37).map((c) => converter.convert(c, 8_000, 1)));
    const [l, r] = deinterleave(out, 2);
    expect(l!.length).toBe(Math.ceil((mono.length * 16_000) / 8_000));
    expect(Array.from(l!)).toEqual(Array.from(r!));
    expect(Array.from(l!)).toEqual(Array.from(await reference(mono, 8_000, 16_000)));
    expect(sineFitSnrDb(l!.subarray(200), 440, 16_000)).toBeGreaterThan(40);
  });

  it("passes audio at the output rate and layout through as the same array, without a resampler", () => {
    const converter = new AudioConverter({ outRate: 16_000 });
    const audio = sine(440, 16_000, 0.02);
    expect(converter.accepts(16_000, 1)).toBe(true);
    expect(converter.convert(audio, 16_000, 1)).toBe(audio);
    expect(converter.inRate).toBeUndefined();
  });

  it("makes a new stream when the input rate changes, and keeps each stream's frame count exact", async () => {
    const converter = new AudioConverter({ outRate: 16_000 });
    let total = 0;
    for (const [rate, frames] of [
      [48_000, 4_801],
      [8_000, 333],
      [44_100, 4_410],
    ] as const) {
      expect(converter.accepts(rate, 1)).toBe(false);
      await converter.prepare(rate, 1);
      expect(converter.inRate).toBe(rate);
      for (const c of chunks(new Int16Array(frames).fill(1_000), 97))
        total += converter.convert(c, rate, 1).length;
      expect(total).toBeGreaterThan(0);
    }
    expect(total).toBe(Math.ceil((4_801 * 16_000) / 48_000) + Math.ceil((333 * 16_000) / 8_000) + 1_600);
  });

  it("with dropStartup, drops the filter's start-up and gives the tail back on flush", async () => {
    const audio = sine(440, 48_000, 0.2, 8_000);
    const converter = new AudioConverter({ outRate: 16_000, dropStartup: true });
    await converter.prepare(48_000, 1);
    const delay = converter.delayFrames;
    expect(delay).toBeGreaterThan(0);
    const body = concat(chunks(audio, 960).map((c) => converter.convert(c, 48_000, 1)));
    expect(body.length).toBe(3_200 - delay);
    const tail = converter.flush();
    expect(Math.abs(body.length + tail.length - 3_200)).toBeLessThanOrEqual(2);
    expect(converter.flush()).toHaveLength(0); // nothing fed since
  });

  it("marks resampler creation as real work on the clock it is given", async () => {
    const clock = new VirtualClock();
    const tracked: Array<Promise<unknown>> = [];
    const converter = new AudioConverter({
      outRate: 16_000,
      clock: { track: (work) => (tracked.push(work), clock.track(work)) },
    });
    await converter.prepare(24_000, 1);
    expect(tracked).toHaveLength(1);
    await converter.prepare(24_000, 2); // mono resampler serves stereo input folded to mono
    expect(tracked).toHaveLength(1);
  });

  it("refuses a rate the resampler cannot take, stays usable, and frees a resampler that arrives after dispose", async () => {
    const converter = new AudioConverter({ outRate: 16_000 });
    await expect(converter.prepare(800, 1)).rejects.toBeInstanceOf(InvalidSampleRateError);
    expect(() => converter.convert(new Int16Array(8), 800, 1)).toThrow(/not ready for 800 Hz/);
    await converter.prepare(8_000, 1);
    const late = new AudioConverter({ outRate: 16_000 });
    const pending = late.prepare(48_000, 1);
    late.dispose();
    await pending;
    expect(late.accepts(48_000, 1)).toBe(false);
    expect(() => late.convert(new Int16Array(8), 16_000, 1)).toThrow(/after dispose/);
  });
});
