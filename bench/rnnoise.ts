/**
 * RNNoise filter benchmark (not a test): cost per 10 ms frame and speed in × real time, at 48 kHz
 * (RNNoise's native rate, no resampling) and at 16 kHz (resampled to 48 kHz and back), on noisy
 * speech in 20 ms chunks. Also prints the noise attenuation measured on white noise alone.
 *
 *   npx tsx bench/rnnoise.ts
 */
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { RNNoiseFilter } from "../src/audio/filters/rnnoise-filter.js";
import { resampleOnce } from "../src/audio/resampler.js";
import { readWavFile } from "../src/audio/wav.js";
import { chunks, concat, energyDb, whiteNoise } from "../test/audio/signals.js";

const fixture = fileURLToPath(new URL("../test/fixtures/rnnoise-speech-16k.wav", import.meta.url));
const { audio: speech16k } = await readWavFile(fixture);

/** About 10 s of speech with white noise at roughly 10 dB SNR, at `rate`. */
async function noisySpeech(rate: number): Promise<Int16Array> {
  const speech = rate === 16000 ? speech16k : await resampleOnce(speech16k, 16000, rate);
  const looped = concat([speech, speech, speech]);
  const noise = whiteNoise(looped.length, 1200, 2);
  return Int16Array.from(looped, (s, i) => Math.max(-32768, Math.min(32767, s + noise[i]!)));
}

async function measure(rate: number): Promise<{ usPerFrame: number; xRealTime: number }> {
  const input = await noisySpeech(rate);
  const pieces = chunks(input, rate / 50);
  const seconds = input.length / rate;
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const filter = new RNNoiseFilter();
    await filter.start(rate);
    const start = performance.now();
    for (const piece of pieces) filter.filter(piece);
    best = Math.min(best, performance.now() - start);
    await filter.stop();
  }
  const frames = seconds * 100;
  return { usPerFrame: (best * 1000) / frames, xRealTime: (seconds * 1000) / best };
}

for (const rate of [48000, 16000]) {
  const { usPerFrame, xRealTime } = await measure(rate);
  console.log(`bench: rnnoise.frame10ms.${rate / 1000}k ${usPerFrame.toFixed(0)} us`);
  console.log(`bench: rnnoise.speed.${rate / 1000}k ${xRealTime.toFixed(1)} xRT`);
}

const filter = new RNNoiseFilter();
await filter.start(16000);
const noise = whiteNoise(16000 * 3, 1000, 4);
const out = concat(chunks(noise, 320).map((c) => filter.filter(c)));
await filter.stop();
console.log(
  `bench: rnnoise.whitenoise-attenuation.16k ${(-energyDb(out.subarray(8000), noise.subarray(8000))).toFixed(1)} dB`,
);
