import { sine } from "../audio/signals.js";

/** A sine tone as PCM16, `ms` long (the shared `sine` of test/audio/signals.ts, in ms). */
export function tone(ms: number, sampleRate: number, freq = 440, amplitude = 8000): Int16Array {
  return sine(freq, sampleRate, ms / 1000, amplitude);
}

/** A constant non-zero signal, easy to recognise after mixing. */
export function constant(ms: number, sampleRate: number, value = 1000): Int16Array {
  return new Int16Array(Math.round((sampleRate * ms) / 1000)).fill(value);
}
