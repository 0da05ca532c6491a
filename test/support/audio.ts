/** A sine tone as PCM16. */
export function tone(ms: number, sampleRate: number, freq = 440, amplitude = 8000): Int16Array {
  const n = Math.round((sampleRate * ms) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / sampleRate));
  return out;
}

/** A constant non-zero signal, easy to recognise after mixing. */
export function constant(ms: number, sampleRate: number, value = 1000): Int16Array {
  return new Int16Array(Math.round((sampleRate * ms) / 1000)).fill(value);
}
