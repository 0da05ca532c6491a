import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AudioFilterNotStartedError } from "../../src/audio/filters/audio-filter.js";
import type { AudioFilter } from "../../src/audio/filters/audio-filter.js";
import { RNNoiseFilter } from "../../src/audio/filters/rnnoise-filter.js";
import { loadRNNoiseModule } from "../../src/audio/filters/rnnoise-wasm.js";
import { readWavFile } from "../../src/audio/wav.js";
import { rms } from "../../src/audio/pcm.js";
import { chunks, concat, energyDb, whiteNoise } from "./signals.js";

const SPEECH = fileURLToPath(new URL("../fixtures/rnnoise-speech-16k.wav", import.meta.url));

async function run(filter: AudioFilter, audio: Int16Array, chunkSize: number): Promise<Int16Array> {
  return concat(chunks(audio, chunkSize).map((c) => filter.filter(c)));
}

describe("RNNoiseFilter: noise suppression", () => {
  it("attenuates white noise alone by more than 20 dB once adapted (16 kHz, 20 ms chunks)", async () => {
    const filter = new RNNoiseFilter();
    await filter.start(16000);
    const noise = whiteNoise(16000 * 1.5, 1000, 3); // about -30 dBFS
    const out = await run(filter, noise, 320);
    // Skip the first 0.5 s, while the recurrent state adapts.
    const attenuation = -energyDb(out.subarray(8000), noise.subarray(8000));
    expect(attenuation).toBeGreaterThan(20);
    await filter.stop();
  });

  it("keeps the energy of clean speech (within 1 dB)", async () => {
    const { audio, sampleRate } = await readWavFile(SPEECH);
    expect(sampleRate).toBe(16000);
    const filter = new RNNoiseFilter();
    await filter.start(sampleRate);
    const out = await run(filter, audio, 320);
    expect(Math.abs(energyDb(out, audio))).toBeLessThan(1);
    expect(filter.vadProbability).toBeGreaterThanOrEqual(0);
    await filter.stop();
  });

  it("in noisy speech, removes the noise between words and keeps the words", async () => {
    const { audio: speech } = await readWavFile(SPEECH);
    const noise = whiteNoise(speech.length, 1000, 11);
    const noisy = Int16Array.from(speech, (s, i) => s + noise[i]!);
    const filter = new RNNoiseFilter();
    await filter.start(16000);
    const out = await run(filter, noisy, 320);
    // Classify 20 ms windows by the clean speech; skip the first 0.5 s (adaptation).
    const win = 320;
    const pauseOut: Int16Array[] = [];
    const pauseIn: Int16Array[] = [];
    const wordsOut: Int16Array[] = [];
    const wordsClean: Int16Array[] = [];
    for (let w = 8000; w + 3 * win <= speech.length; w += win) {
      // A pause must be quiet in the window and its neighbours (the filter delays by a few ms).
      const around = speech.subarray(w - win, w + 2 * win);
      const here = speech.subarray(w, w + win);
      if (rms(around) < 30) {
        pauseOut.push(out.subarray(w, w + win));
        pauseIn.push(noisy.subarray(w, w + win));
      } else if (rms(here) > 3000) {
        wordsOut.push(out.subarray(w, w + win));
        wordsClean.push(speech.subarray(w, w + win));
      }
    }
    expect(pauseOut.length).toBeGreaterThan(5);
    expect(wordsOut.length).toBeGreaterThan(20);
    expect(-energyDb(concat(pauseOut), concat(pauseIn))).toBeGreaterThan(20);
    expect(energyDb(concat(wordsOut), concat(wordsClean))).toBeGreaterThan(-3);
    await filter.stop();
  });
});

describe("RNNoiseFilter: framing and rates", () => {
  it("at 48 kHz returns exactly the whole 10 ms frames received so far", async () => {
    const filter = new RNNoiseFilter();
    await filter.start(48000);
    const sizes = [100, 100, 100, 100, 100, 480, 1000, 5].map((n) => filter.filter(new Int16Array(n)).length);
    // Cumulative input 100…500 → 1 frame at 500; 980 → 2; 1980 → 4; 1985 → 4.
    expect(sizes).toEqual([0, 0, 0, 0, 480, 480, 960, 0]);
    await filter.stop();
  });

  it.each([8000, 16000, 24000, 44100])(
    "at %i Hz, output lags input by less than 10 ms plus the resampler delays, never leads",
    async (rate) => {
      const filter = new RNNoiseFilter();
      await filter.start(rate);
      expect(filter.sampleRate).toBe(rate);
      let totalIn = 0;
      let totalOut = 0;
      const sizes = [Math.floor(rate / 100), Math.floor(rate / 50), 7, 333];
      for (let i = 0; i < 40; i++) {
        const n = sizes[i % sizes.length]!;
        totalIn += n;
        totalOut += filter.filter(whiteNoise(n, 500, i)).length;
        expect(totalOut).toBeLessThanOrEqual(totalIn);
        expect(totalIn - totalOut).toBeLessThan(Math.ceil(rate * 0.02));
      }
      await filter.stop();
    },
  );
});

describe("RNNoiseFilter: lifecycle", () => {
  it("throws AudioFilterNotStartedError before start() and after stop(); stop() is idempotent", async () => {
    const filter = new RNNoiseFilter();
    expect(() => filter.filter(new Int16Array(160))).toThrow(AudioFilterNotStartedError);
    await filter.start(16000);
    await filter.stop();
    await filter.stop();
    expect(filter.sampleRate).toBeUndefined();
    expect(() => filter.filter(new Int16Array(160))).toThrow(/call start\(sampleRate\) first/);
  });

  it("passes audio through untouched while disabled, and denoises again when re-enabled", async () => {
    const filter = new RNNoiseFilter({ enabled: false });
    await filter.start(16000);
    const noise = whiteNoise(16000, 1000, 5);
    const chunk = noise.subarray(0, 320);
    expect(filter.filter(chunk)).toBe(chunk);
    filter.enabled = true;
    const out = await run(filter, noise, 320);
    expect(-energyDb(out.subarray(8000), noise.subarray(8000))).toBeGreaterThan(20);
    await filter.stop();
  });

  it("keeps separate state per filter while sharing one wasm module", async () => {
    const { audio } = await readWavFile(SPEECH);
    const speech = audio.subarray(0, 16000);
    const alone = new RNNoiseFilter();
    await alone.start(16000);
    const expected = await run(alone, speech, 320);
    const a = new RNNoiseFilter();
    const b = new RNNoiseFilter();
    await Promise.all([a.start(16000), b.start(16000)]);
    const noise = whiteNoise(speech.length, 3000, 8);
    const outA: Int16Array[] = [];
    const speechChunks = chunks(speech, 320);
    const noiseChunks = chunks(noise, 320);
    for (let i = 0; i < speechChunks.length; i++) {
      outA.push(a.filter(speechChunks[i]!));
      b.filter(noiseChunks[i]!);
    }
    expect(concat(outA)).toEqual(expected);
    expect(await loadRNNoiseModule()).toBe(await loadRNNoiseModule());
    await Promise.all([alone.stop(), a.stop(), b.stop()]);
  });

  it("rejects an invalid sample rate", async () => {
    await expect(new RNNoiseFilter().start(0)).rejects.toThrow(/positive integer/);
    await expect(new RNNoiseFilter().start(16000.5)).rejects.toMatchObject({ code: "VP_INVALID_OPTION" });
  });
});
