import { describe, expect, it } from "vitest";
import { hzToMel, melFilterBank, melToHz } from "../../../src/audio/turn/smart-turn/mel-filter-bank.js";
import { PowerSpectrum } from "../../../src/audio/turn/smart-turn/power-spectrum.js";
import {
  SMART_TURN_FRAMES,
  SMART_TURN_SAMPLES,
  WhisperFeatureExtractor,
} from "../../../src/audio/turn/smart-turn/whisper-features.js";
import { seededRandom, sine } from "../signals.js";

/** The DFT power by its definition, O(n²): the reference the fast path must match. */
function directPower(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const out = new Float64Array((n >> 1) + 1);
  for (let k = 0; k < out.length; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n;
      re += x[j]! * Math.cos(a);
      im += x[j]! * Math.sin(a);
    }
    out[k] = re * re + im * im;
  }
  return out;
}

/** `audio` right-aligned in 8 s of zeros (Smart Turn's layout). */
function padded(audio: Int16Array): Int16Array {
  const out = new Int16Array(SMART_TURN_SAMPLES);
  out.set(
    audio.subarray(Math.max(0, audio.length - SMART_TURN_SAMPLES)),
    Math.max(0, SMART_TURN_SAMPLES - audio.length),
  );
  return out;
}

const at = (f: Float32Array, mel: number, frame: number): number => f[mel * SMART_TURN_FRAMES + frame]!;

describe("PowerSpectrum (a 400-point DFT on fft.js through Bluestein)", () => {
  it("matches the DFT's definition for one frame and for two frames sharing a transform", () => {
    const random = seededRandom(7);
    const spectrum = new PowerSpectrum(400);
    for (let trial = 0; trial < 5; trial++) {
      const a = Float64Array.from({ length: 400 }, () => random() * 2 - 1);
      const b = Float64Array.from({ length: 400 }, () => random() * 2 - 1);
      const [pa, pb, single] = [new Float64Array(201), new Float64Array(201), new Float64Array(201)];
      spectrum.compute(a, pa, b, pb);
      spectrum.compute(a, single);
      const [ra, rb] = [directPower(a), directPower(b)];
      for (let k = 0; k < 201; k++) {
        expect(pa[k]).toBeCloseTo(ra[k]!, 8);
        expect(pb[k]).toBeCloseTo(rb[k]!, 8);
        expect(single[k]).toBeCloseTo(ra[k]!, 8);
      }
    }
  });
});

describe("the Slaney mel filter bank", () => {
  it("spans 0–8 kHz on Whisper's mel scale: 80 non-empty bands with rising centres", () => {
    // Whisper's own constant for the top of the scale (its get_mel_filters): 45.245640471924965.
    expect(hzToMel(8000)).toBeCloseTo(45.245640471924965, 10);
    expect(melToHz(hzToMel(3210))).toBeCloseTo(3210, 9);
    expect(hzToMel(1000)).toBe(15); // the linear part ends at 1 kHz, 15 mel
    const bands = melFilterBank(80, 400, 16000);
    expect(bands).toHaveLength(80);
    for (let m = 1; m < 80; m++) expect(bands[m]!.centreHz).toBeGreaterThan(bands[m - 1]!.centreHz);
    for (const band of bands) expect(band.weights.length).toBeGreaterThan(0);
  });

  it("gives every band wider than a few bins an area of 1 (Slaney normalisation: 2 / (upper − lower) Hz)", () => {
    const bands = melFilterBank(80, 400, 16000);
    for (const band of bands.filter((b) => b.weights.length >= 6)) {
      const area = band.weights.reduce((s, w) => s + w, 0) * 40; // 40 Hz per bin
      expect(area).toBeGreaterThan(0.95);
      expect(area).toBeLessThan(1.05);
    }
  });
});

describe("WhisperFeatureExtractor", () => {
  const extractor = new WhisperFeatureExtractor();

  it("gives 8 s of digital silence the floor everywhere: (log10(1e-10) + 4) / 4 = −1.5", () => {
    const f = extractor.extract(new Int16Array(SMART_TURN_SAMPLES));
    expect(f).toHaveLength(80 * 800);
    expect(Math.min(...f)).toBe(-1.5);
    expect(Math.max(...f)).toBe(-1.5);
  });

  for (const hz of [440, 1000, 3000]) {
    it(`puts a ${hz} Hz tone's energy in the band centred nearest ${hz} Hz`, () => {
      const f = extractor.extract(padded(sine(hz, 16000, 8, 8000)));
      const bands = melFilterBank(80, 400, 16000);
      const nearest = bands.reduce(
        (best, b, m) => (Math.abs(b.centreHz - hz) < Math.abs(bands[best]!.centreHz - hz) ? m : best),
        0,
      );
      for (const frame of [100, 400, 700]) {
        let loudest = 0;
        for (let m = 1; m < 80; m++) if (at(f, m, frame) > at(f, loudest, frame)) loudest = m;
        expect(Math.abs(loudest - nearest)).toBeLessThanOrEqual(1);
      }
    });
  }

  it("clamps to the window's maximum − 8 (in log10), then maps x → (x + 4) / 4: a floor at max − 2", () => {
    // A tone in the last 2 s, digital silence before it: the silent frames sit exactly on the floor.
    const f = extractor.extract(padded(sine(1000, 16000, 2, 8000)));
    const max = Math.max(...f);
    const min = Math.min(...f);
    expect(min).toBeCloseTo(max - 2, 5);
    for (let m = 0; m < 80; m += 7) expect(at(f, m, 100)).toBeCloseTo(max - 2, 5);
    expect(max).toBeGreaterThan(0.5); // the tone's band, well above the floor
  });

  it("does not depend on the level of the audio (the waveform is normalised to unit variance first)", () => {
    const loud = extractor.extract(padded(sine(700, 16000, 3, 16000)));
    const quiet = extractor.extract(padded(sine(700, 16000, 3, 500)), new Float32Array(80 * 800));
    // Within 40 dB of the peak; below that, the quiet tone's PCM16 rounding noise shows.
    const top = Math.max(...loud) - 1;
    let worst = 0;
    let compared = 0;
    for (let i = 0; i < loud.length; i++) {
      if (loud[i]! < top) continue;
      compared++;
      worst = Math.max(worst, Math.abs(loud[i]! - quiet[i]!));
    }
    expect(compared).toBeGreaterThan(300 * 3); // the tone's bands over its 3 s
    expect(worst).toBeLessThan(0.01);
  });

  it("extractAsync gives the same features, and stops with signal.reason when aborted", async () => {
    const random = seededRandom(3);
    const audio = Int16Array.from({ length: SMART_TURN_SAMPLES }, () => Math.round((random() - 0.5) * 20000));
    const sync = extractor.extract(audio);
    const async = await new WhisperFeatureExtractor().extractAsync(audio);
    expect(async).toEqual(sync);
    const controller = new AbortController();
    const reason = new Error("user spoke again");
    const pending = new WhisperFeatureExtractor().extractAsync(audio, { signal: controller.signal });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it("refuses audio that is not exactly 8 s of PCM16, saying what it needs", () => {
    expect(() => extractor.extract(new Int16Array(16000))).toThrow(
      /exactly 128000 samples.*got 16000 samples/,
    );
    expect(() => extractor.extract(new Float32Array(SMART_TURN_SAMPLES) as unknown as Int16Array)).toThrow(
      /got Float32Array/,
    );
  });
});
