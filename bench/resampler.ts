/**
 * Resampler benchmark (not a test): quality as SNR of a 1 kHz sine round trip, and speed in
 * × real time, both in 20 ms streaming chunks at the default quality.
 *
 *   npx tsx bench/resampler.ts
 *
 * SNR uses a least-squares sine fit at the known frequency, so the filter delay does not matter.
 * The sine is at -1 dBFS. The 1 kHz round trip is bounded by 16-bit quantisation (about 100 dB at
 * every quality from 3 up), so two more lines tell qualities apart: a 3.4 kHz tone (near the
 * passband edge of 8 kHz audio) taken 48k→16k, and the level left of a 10 kHz tone, above the
 * 8 kHz Nyquist frequency, taken 48k→16k (aliasing; lower is better; -Infinity means it rounds to
 * digital silence at 16 bits). Set QUALITY=0…10 to compare.
 */
import { performance } from "node:perf_hooks";
import { rms } from "../src/audio/pcm.js";
import { DEFAULT_RESAMPLER_QUALITY, createStreamResampler } from "../src/audio/resampler.js";
import { chunks, concat, sine, sineFitSnrDb, whiteNoise } from "../test/audio/signals.js";

const quality = Number(process.env.QUALITY ?? DEFAULT_RESAMPLER_QUALITY);

async function stream(audio: Int16Array, inRate: number, outRate: number): Promise<Int16Array> {
  const resampler = await createStreamResampler({ inRate, outRate, quality });
  const out = concat([...chunks(audio, inRate / 50).map((c) => resampler.resample(c)), resampler.flush()]);
  resampler.dispose();
  return out;
}

async function roundTripSnr(via: number): Promise<number> {
  const amplitude = 32767 * 10 ** (-1 / 20);
  const input = sine(1000, 16000, 3, amplitude);
  const back = await stream(await stream(input, 16000, via), via, 16000);
  // Drop 0.5 s at each end: start-up and the flushed tail.
  return sineFitSnrDb(back.subarray(8000, back.length - 8000), 1000, 16000);
}

async function downsampleSnr(): Promise<{ snr: number; aliasDb: number }> {
  const amplitude = 32767 * 10 ** (-1 / 20);
  const tone = await stream(sine(3400, 48000, 2, amplitude), 48000, 16000);
  const snr = sineFitSnrDb(tone.subarray(8000, tone.length - 8000), 3400, 16000);
  const high = sine(10000, 48000, 2, amplitude);
  const leak = await stream(high, 48000, 16000);
  const aliasDb = 20 * Math.log10(rms(leak.subarray(8000, leak.length - 8000)) / rms(high));
  return { snr, aliasDb };
}

async function speed(inRate: number, outRate: number): Promise<{ xRealTime: number; usPerChunk: number }> {
  const seconds = 30;
  const input = whiteNoise(inRate * seconds, 3000, 1);
  const pieces = chunks(input, inRate / 50);
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const resampler = await createStreamResampler({ inRate, outRate, quality });
    const start = performance.now();
    for (const piece of pieces) resampler.resample(piece);
    best = Math.min(best, performance.now() - start);
    resampler.dispose();
  }
  return { xRealTime: (seconds * 1000) / best, usPerChunk: (best * 1000) / pieces.length };
}

console.log(`bench: resampler.quality ${quality} level`);
for (const via of [24000, 48000]) {
  const snr = await roundTripSnr(via);
  console.log(`bench: resampler.snr.16k-${via / 1000}k-16k ${snr.toFixed(1)} dB`);
}
const { snr, aliasDb } = await downsampleSnr();
console.log(`bench: resampler.snr.48k-16k.3400Hz ${snr.toFixed(1)} dB`);
console.log(`bench: resampler.alias.48k-16k.10kHz ${aliasDb.toFixed(1)} dB`);
for (const [inRate, outRate] of [
  [16000, 24000],
  [24000, 16000],
  [48000, 16000],
  [8000, 16000],
] as const) {
  const name = `${inRate / 1000}k-${outRate / 1000}k`;
  const { xRealTime, usPerChunk } = await speed(inRate, outRate);
  console.log(`bench: resampler.speed.${name} ${Math.round(xRealTime)} xRT`);
  console.log(`bench: resampler.chunk20ms.${name} ${usPerChunk.toFixed(1)} us`);
}
