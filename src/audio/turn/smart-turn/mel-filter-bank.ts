/**
 * Slaney-style mel filter bank, as Whisper's feature extractor builds it (librosa's default,
 * `htk=False`, `norm="slaney"`): triangles evenly spaced on the Slaney mel scale (linear below
 * 1 kHz, logarithmic above), each scaled by `2 / (upper edge − lower edge)` in Hz so every band
 * holds about the same energy for white noise.
 */

/** The Slaney mel scale: 3 mel per 200 Hz below 1 kHz, then 27 mel per factor 6.4 of frequency. */
export function hzToMel(hz: number): number {
  if (hz < 1000) return (3 * hz) / 200;
  return 15 + (Math.log(hz / 1000) * 27) / Math.log(6.4);
}

/** Inverse of {@link hzToMel}. */
export function melToHz(mel: number): number {
  if (mel < 15) return (200 * mel) / 3;
  return 1000 * Math.exp((Math.log(6.4) / 27) * (mel - 15));
}

/** One band of the bank: its weights over the FFT bins `[firstBin, firstBin + weights.length)`. */
export interface MelBand {
  readonly firstBin: number;
  readonly weights: Float64Array;
  /** The band's centre frequency, in Hz (where its triangle peaks). */
  readonly centreHz: number;
}

/**
 * Builds `numMels` bands from 0 Hz to `sampleRate / 2` over the `fftSize / 2 + 1` bins of an
 * `fftSize`-point spectrum. Each band keeps only its non-zero span, so applying the bank costs
 * about two multiply-adds per bin, not `numMels` per bin.
 */
export function melFilterBank(numMels: number, fftSize: number, sampleRate: number): MelBand[] {
  const bins = (fftSize >> 1) + 1;
  const maxMel = hzToMel(sampleRate / 2);
  // numMels + 2 edges: band m rises from edge m, peaks at m + 1, falls to m + 2.
  const edges = Array.from({ length: numMels + 2 }, (_, i) => melToHz((maxMel * i) / (numMels + 1)));
  const binHz = (k: number): number => (k * sampleRate) / 2 / (bins - 1);
  const bands: MelBand[] = [];
  for (let m = 0; m < numMels; m++) {
    const lower = edges[m]!;
    const centre = edges[m + 1]!;
    const upper = edges[m + 2]!;
    const scale = 2 / (upper - lower);
    const all = new Float64Array(bins);
    let first = -1;
    let last = -1;
    for (let k = 0; k < bins; k++) {
      const hz = binHz(k);
      const w = Math.max(0, Math.min((hz - lower) / (centre - lower), (upper - hz) / (upper - centre)));
      if (w > 0) {
        if (first < 0) first = k;
        last = k;
        all[k] = w * scale;
      }
    }
    // A band too narrow to hold a bin (not the case for Whisper's 80 bands at 400 points) stays empty.
    const firstBin = first < 0 ? 0 : first;
    bands.push({
      firstBin,
      weights: first < 0 ? new Float64Array(0) : all.slice(first, last + 1),
      centreHz: centre,
    });
  }
  return bands;
}
