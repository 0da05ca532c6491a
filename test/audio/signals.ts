/**
 * Test signals and measurements for the audio tests and benchmarks: sines, seeded noise, chunking
 * and a least-squares sine fit (SNR at a known frequency, independent of delay and phase).
 */

/** A sine of `frequency` Hz, `seconds` long, with peak `amplitude` (PCM16 units), as PCM16. */
export function sine(frequency: number, sampleRate: number, seconds: number, amplitude = 16384): Int16Array {
  const n = Math.round(sampleRate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
  return out;
}

/** A deterministic pseudo-random generator (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform white noise with the given RMS level (PCM16 units), seeded. */
export function whiteNoise(numSamples: number, rmsLevel: number, seed = 1): Int16Array {
  const random = seededRandom(seed);
  const half = rmsLevel * Math.sqrt(3); // uniform on [-h, h] has RMS h/√3
  const out = new Int16Array(numSamples);
  for (let i = 0; i < numSamples; i++) out[i] = Math.round((random() * 2 - 1) * half);
  return out;
}

/** Cuts `audio` into consecutive chunks of `size` samples (the last one may be shorter). */
export function chunks(audio: Int16Array, size: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let offset = 0; offset < audio.length; offset += size) out.push(audio.subarray(offset, offset + size));
  return out;
}

/** Concatenates PCM16 buffers. */
export function concat(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Energy ratio of two signals in dB: `10·log10(Σa² / Σb²)`. */
export function energyDb(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ea = 0;
  let eb = 0;
  for (let i = 0; i < a.length; i++) ea += a[i]! * a[i]!;
  for (let i = 0; i < b.length; i++) eb += b[i]! * b[i]!;
  return 10 * Math.log10(ea / eb);
}

/**
 * Signal-to-noise-and-distortion ratio of `signal` around a sine of known `frequency`, in dB:
 * fits `a·sin + b·cos + c` by least squares (so delay and phase do not matter) and compares the
 * fitted sine's energy with the residual's.
 */
export function sineFitSnrDb(signal: ArrayLike<number>, frequency: number, sampleRate: number): number {
  const w = (2 * Math.PI * frequency) / sampleRate;
  // Normal equations for the basis [sin, cos, 1].
  const m = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const v = [0, 0, 0];
  for (let i = 0; i < signal.length; i++) {
    const basis = [Math.sin(w * i), Math.cos(w * i), 1];
    const y = signal[i]!;
    for (let r = 0; r < 3; r++) {
      v[r]! += basis[r]! * y;
      for (let c = 0; c < 3; c++) m[r]![c]! += basis[r]! * basis[c]!;
    }
  }
  const [a, b, c] = solve3(m, v);
  let signalEnergy = 0;
  let noiseEnergy = 0;
  for (let i = 0; i < signal.length; i++) {
    const fit = a * Math.sin(w * i) + b * Math.cos(w * i);
    signalEnergy += fit * fit;
    const residual = signal[i]! - fit - c;
    noiseEnergy += residual * residual;
  }
  return 10 * Math.log10(signalEnergy / noiseEnergy);
}

function solve3(m: number[][], v: number[]): [number, number, number] {
  const a = m.map((row, i) => [...row, v[i]!]);
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / a[col]![col]!;
      for (let c = col; c < 4; c++) a[r]![c]! -= f * a[col]![c]!;
    }
  }
  return [a[0]![3]! / a[0]![0]!, a[1]![3]! / a[1]![1]!, a[2]![3]! / a[2]![2]!];
}
