import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { PcmFormatError, deinterleave, interleave, peak, rms } from "../../src/audio/pcm.js";
import {
  InvalidSampleRateError,
  RESAMPLER_MAX_EXTRA_FRAMES,
  ResamplerDisposedError,
  createStreamResampler,
  resampleOnce,
} from "../../src/audio/resampler.js";
import { SPEEX_BLOCK_FRAMES, loadSpeexModule } from "../../src/audio/speex-wasm.js";
import { chunks, concat, seededRandom, sine, sineFitSnrDb } from "./signals.js";

const RATES = [8000, 16000, 22050, 24000, 44100, 48000];
const PAIRS = RATES.flatMap((a) => RATES.filter((b) => b !== a).map((b) => [a, b] as const));

describe("createStreamResampler: chunk sizes", () => {
  it.each(PAIRS)(
    "%i Hz → %i Hz: every 10 ms chunk gives output, never more than ceil(n × ratio) + the documented slack",
    async (inRate, outRate) => {
      const resampler = await createStreamResampler({ inRate, outRate });
      const chunk = inRate / 100; // 10 ms (22050 and 44100 give fractional frames: use floor, odd sizes)
      const size = Math.floor(chunk);
      const input = sine(440, inRate, 0.5);
      let totalIn = 0;
      let totalOut = 0;
      for (const piece of chunks(input, size)) {
        const out = resampler.resample(piece);
        totalIn += piece.length;
        totalOut += out.length;
        expect(out.length).toBeGreaterThan(0);
        expect(out.length).toBeLessThanOrEqual(
          Math.ceil((piece.length * outRate) / inRate) + RESAMPLER_MAX_EXTRA_FRAMES,
        );
        expect(out.length).toBeGreaterThanOrEqual(Math.floor((piece.length * outRate) / inRate));
      }
      // Before flush, the total tracks the rate ratio to within one frame.
      expect(Math.abs(totalOut - Math.round((totalIn * outRate) / inRate))).toBeLessThanOrEqual(1);
      // flush() drains about one filter delay, no more.
      const tail = resampler.flush();
      expect(Math.abs(tail.length - resampler.delayFrames)).toBeLessThanOrEqual(2);
      resampler.dispose();
    },
  );

  it("handles odd chunk sizes down to one frame without losing or inventing frames", async () => {
    const resampler = await createStreamResampler({ inRate: 44100, outRate: 16000 });
    const random = seededRandom(7);
    const input = sine(1000, 44100, 0.3);
    let offset = 0;
    let totalOut = 0;
    while (offset < input.length) {
      const size = 1 + Math.floor(random() * 700);
      const piece = input.subarray(offset, offset + size);
      offset += piece.length;
      const out = resampler.resample(piece);
      expect(out.length).toBeLessThanOrEqual(
        Math.ceil((piece.length * 16000) / 44100) + RESAMPLER_MAX_EXTRA_FRAMES,
      );
      totalOut += out.length;
    }
    expect(totalOut).toBe(Math.ceil((input.length * 16000) / 44100));
    resampler.dispose();
  });

  it("returns an empty array for an empty chunk", async () => {
    const resampler = await createStreamResampler({ inRate: 16000, outRate: 8000 });
    expect(resampler.resample(new Int16Array(0)).length).toBe(0);
    resampler.dispose();
  });
});

describe("createStreamResampler: state across chunks", () => {
  it("resamples a sine in 20 ms chunks to the same samples as in one call", async () => {
    const input = sine(1000, 16000, 1, 20000);
    const whole = await createStreamResampler({ inRate: 16000, outRate: 48000 });
    const chunked = await createStreamResampler({ inRate: 16000, outRate: 48000 });
    const a = whole.resample(input);
    const b = concat(chunks(input, 320).map((c) => chunked.resample(c)));
    expect(b.length).toBe(a.length);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
    whole.dispose();
    chunked.dispose();
  });

  it("loops over chunks larger than its wasm buffers, with the same result as small chunks", async () => {
    const input = sine(300, 48000, 3 * (SPEEX_BLOCK_FRAMES / 48000) + 0.01);
    expect(input.length).toBeGreaterThan(3 * SPEEX_BLOCK_FRAMES);
    const big = await createStreamResampler({ inRate: 48000, outRate: 8000 });
    const small = await createStreamResampler({ inRate: 48000, outRate: 8000 });
    const a = big.resample(input);
    const b = concat(chunks(input, 960).map((c) => small.resample(c)));
    expect(a).toEqual(b);
    big.dispose();
    small.dispose();
  });

  it("keeps independent state per stream even when calls interleave", async () => {
    const x = sine(700, 24000, 0.2);
    const y = sine(2500, 24000, 0.2, 3000);
    const alone = await createStreamResampler({ inRate: 24000, outRate: 16000 });
    const expected = concat(chunks(x, 480).map((c) => alone.resample(c)));
    const s1 = await createStreamResampler({ inRate: 24000, outRate: 16000 });
    const s2 = await createStreamResampler({ inRate: 24000, outRate: 16000 });
    const out1: Int16Array[] = [];
    const xs = chunks(x, 480);
    const ys = chunks(y, 480);
    for (let i = 0; i < xs.length; i++) {
      out1.push(s1.resample(xs[i]!));
      s2.resample(ys[i]!);
    }
    expect(concat(out1)).toEqual(expected);
    for (const r of [alone, s1, s2]) r.dispose();
  });

  it("reset() and flush() both make the next chunk start a fresh stream", async () => {
    const input = sine(440, 16000, 0.1);
    const fresh = await createStreamResampler({ inRate: 16000, outRate: 24000 });
    const expected = fresh.resample(input);
    const reused = await createStreamResampler({ inRate: 16000, outRate: 24000 });
    reused.resample(sine(3000, 16000, 0.05, 30000));
    reused.reset();
    expect(reused.resample(input)).toEqual(expected);
    reused.flush();
    expect(reused.resample(input)).toEqual(expected);
    fresh.dispose();
    reused.dispose();
  });

  it("flush() returns the end of the signal still held in the filter", async () => {
    const resampler = await createStreamResampler({ inRate: 8000, outRate: 48000 });
    const input = sine(500, 8000, 0.1, 20000);
    const body = resampler.resample(input);
    const tail = resampler.flush();
    // The tail holds the last ~delay of the sine, at full level: far above silence.
    expect(tail.length).toBeGreaterThan(0);
    expect(peak(tail)).toBeGreaterThan(10000);
    expect(body.length + tail.length).toBeGreaterThanOrEqual(Math.round((input.length * 48000) / 8000));
    resampler.dispose();
  });

  it("delays the output by delayFrames", async () => {
    const resampler = await createStreamResampler({ inRate: 16000, outRate: 48000 });
    const impulse = new Int16Array(1600);
    impulse[100] = 30000;
    const out = concat([resampler.resample(impulse), resampler.flush()]);
    let argmax = 0;
    for (let i = 1; i < out.length; i++) if (Math.abs(out[i]!) > Math.abs(out[argmax]!)) argmax = i;
    expect(Math.abs(argmax - (100 * 3 + resampler.delayFrames))).toBeLessThanOrEqual(2);
    resampler.dispose();
  });
});

describe("createStreamResampler: signal quality", () => {
  it.each([
    [16000, 48000],
    [48000, 16000],
    [8000, 24000],
    [44100, 16000],
  ])("keeps a 1 kHz sine clean from %i Hz to %i Hz (SNR > 80 dB)", async (inRate, outRate) => {
    const resampler = await createStreamResampler({ inRate, outRate });
    const out = concat(
      chunks(sine(1000, inRate, 0.5, 29000), Math.floor(inRate / 50)).map((c) => resampler.resample(c)),
    );
    const steady = out.subarray(Math.round(outRate * 0.05), Math.round(outRate * 0.45));
    expect(sineFitSnrDb(steady, 1000, outRate)).toBeGreaterThan(80);
    resampler.dispose();
  });

  it("rejects a tone above the output Nyquist frequency when downsampling (aliasing < -60 dB)", async () => {
    const resampler = await createStreamResampler({ inRate: 48000, outRate: 16000 });
    const input = sine(10000, 48000, 0.2, 20000);
    const out = resampler.resample(input).subarray(200);
    expect(20 * Math.log10(rms(out) / rms(input))).toBeLessThan(-60);
    resampler.dispose();
  });

  it("keeps interleaved stereo channels apart", async () => {
    const left = sine(440, 16000, 0.2, 20000);
    const right = new Int16Array(left.length);
    const resampler = await createStreamResampler({ inRate: 16000, outRate: 24000, channels: 2 });
    expect(resampler.channels).toBe(2);
    const out = concat(chunks(interleave([left, right]), 640).map((c) => resampler.resample(c)));
    const [l, r] = deinterleave(out, 2);
    expect(l!.length).toBe(Math.ceil((left.length * 24000) / 16000));
    expect(peak(r!)).toBe(0);
    expect(sineFitSnrDb(l!.subarray(500), 440, 24000)).toBeGreaterThan(70);
    expect(() => resampler.resample(new Int16Array(3))).toThrow(PcmFormatError);
    resampler.dispose();
  });
});

describe("createStreamResampler: pass-through, options and lifecycle", () => {
  it("passes same-rate audio through untouched, without delay", async () => {
    const resampler = await createStreamResampler({ inRate: 16000, outRate: 16000 });
    const chunk = sine(440, 16000, 0.02);
    expect(resampler.resample(chunk)).toBe(chunk);
    expect(resampler.delayFrames).toBe(0);
    expect(resampler.flush().length).toBe(0);
  });

  it.each([0, -16000, 16000.5, Number.NaN, Number.POSITIVE_INFINITY, "16000", 10_000_000])(
    "rejects the sample rate %s with InvalidSampleRateError",
    async (rate) => {
      const attempt = createStreamResampler({ inRate: rate as number, outRate: 16000 });
      await expect(attempt).rejects.toBeInstanceOf(InvalidSampleRateError);
      await expect(createStreamResampler({ inRate: 16000, outRate: rate as number })).rejects.toMatchObject({
        code: "VP_INVALID_SAMPLE_RATE",
        option: "outRate",
      });
    },
  );

  it("rejects a bad quality or channel count with InvalidOptionError", async () => {
    await expect(createStreamResampler({ inRate: 8000, outRate: 16000, quality: 11 })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    await expect(createStreamResampler({ inRate: 8000, outRate: 16000, channels: 0 })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
  });

  it("throws ResamplerDisposedError when used after dispose(), and dispose() is idempotent", async () => {
    for (const outRate of [24000, 16000]) {
      const resampler = await createStreamResampler({ inRate: 16000, outRate });
      resampler.dispose();
      resampler.dispose();
      expect(resampler.disposed).toBe(true);
      expect(() => resampler.resample(new Int16Array(160))).toThrow(ResamplerDisposedError);
      expect(() => resampler.flush()).toThrow(/disposed; create a new one/);
      expect(() => resampler.reset()).toThrow(ResamplerDisposedError);
    }
  });

  it("loads the wasm module once and shares it between streams", async () => {
    const [a, b] = await Promise.all([loadSpeexModule(), loadSpeexModule()]);
    expect(a).toBe(b);
    expect(await loadSpeexModule()).toBe(a);
  });

  it("does not grow wasm memory when streams are created and disposed repeatedly", async () => {
    const module = await loadSpeexModule();
    const warm = await createStreamResampler({ inRate: 8000, outRate: 48000 });
    warm.dispose();
    const before = module.HEAP16.byteLength;
    for (let i = 0; i < 200; i++) {
      const r = await createStreamResampler({ inRate: 8000, outRate: 48000 });
      r.resample(new Int16Array(160));
      r.dispose();
    }
    expect(module.HEAP16.byteLength).toBe(before);
  });
});

describe("resampleOnce", () => {
  it.each([
    [16000, 24000],
    [48000, 16000],
    [22050, 16000],
  ])("returns round(n × ratio) frames aligned with the input (%i Hz → %i Hz)", async (inRate, outRate) => {
    const input = sine(440, inRate, 0.25, 16000);
    const out = await resampleOnce(input, inRate, outRate);
    expect(out.length).toBe(Math.round((input.length * outRate) / inRate));
    // No delay: the output matches the ideal sine sampled at the new rate, away from the edges.
    const expected = sine(440, outRate, 0.25, 16000);
    let maxErr = 0;
    for (let i = Math.round(outRate * 0.02); i < out.length - Math.round(outRate * 0.02); i++) {
      maxErr = Math.max(maxErr, Math.abs(out[i]! - expected[i]!));
    }
    expect(maxErr).toBeLessThan(16);
  });

  it("copies same-rate audio, resamples stereo, and rejects a partial frame", async () => {
    const input = Int16Array.from([1, 2, 3, 4]);
    const same = await resampleOnce(input, 8000, 8000);
    expect(same).toEqual(input);
    expect(same).not.toBe(input);
    const stereo = await resampleOnce(interleave([sine(300, 8000, 0.1), sine(300, 8000, 0.1)]), 8000, 16000, {
      channels: 2,
    });
    expect(stereo.length).toBe(2 * 1600);
    await expect(resampleOnce(new Int16Array(3), 8000, 16000, { channels: 2 })).rejects.toBeInstanceOf(
      PcmFormatError,
    );
    await expect(resampleOnce(input, 8000, 0)).rejects.toBeInstanceOf(InvalidSampleRateError);
  });
});
