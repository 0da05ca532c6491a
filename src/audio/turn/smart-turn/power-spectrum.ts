import FFT from "fft.js";

/**
 * The power spectrum `|X[k]|²`, `k = 0 … n/2`, of real frames of any length `n` (Whisper's is
 * 400 samples, not a power of two), computed with fft.js (radix-4, power-of-two sizes only)
 * through Bluestein's chirp-z identity `nk = (n² + k² − (k−n)²) / 2`, which turns an `n`-point
 * DFT into a convolution that a power-of-two FFT of size ≥ 2n − 1 computes exactly (up to
 * rounding). Two real frames go through one complex transform (one as the real part, one as the
 * imaginary part) and are separated afterwards by the DFT's conjugate symmetry, so a pair costs
 * one forward and one inverse FFT.
 *
 * Not thread-safe, not re-entrant: it owns its scratch buffers (about 50 KB for n = 400).
 */
export class PowerSpectrum {
  /** Bins per spectrum: `n / 2 + 1`. */
  readonly bins: number;
  readonly #n: number;
  readonly #fft: FFT;
  /** The chirp `w[j] = exp(−iπ j² / n)`, interleaved re/im, j < n. */
  readonly #chirp: Float64Array;
  /** FFT of the convolution kernel `conj(w)` laid out circularly over the FFT size. */
  readonly #kernel: Float64Array;
  readonly #a: Float64Array;
  readonly #spectrum: Float64Array;
  readonly #conv: Float64Array;

  /** @param n frame length in samples (≥ 2). */
  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2)
      throw new RangeError(`PowerSpectrum: n must be an integer ≥ 2 (got ${n})`);
    this.#n = n;
    this.bins = (n >> 1) + 1;
    let size = 2;
    while (size < 2 * n - 1) size <<= 1;
    this.#fft = new FFT(size);
    this.#chirp = new Float64Array(2 * n);
    for (let j = 0; j < n; j++) {
      // j² mod 2n keeps the angle small, so the chirp stays accurate for large j.
      const angle = (-Math.PI * ((j * j) % (2 * n))) / n;
      this.#chirp[2 * j] = Math.cos(angle);
      this.#chirp[2 * j + 1] = Math.sin(angle);
    }
    const b = new Float64Array(2 * size);
    for (let j = 0; j < n; j++) {
      const re = this.#chirp[2 * j]!;
      const im = -this.#chirp[2 * j + 1]!; // conj(w[j])
      b[2 * j] = re;
      b[2 * j + 1] = im;
      if (j > 0) {
        b[2 * (size - j)] = re;
        b[2 * (size - j) + 1] = im;
      }
    }
    this.#kernel = new Float64Array(2 * size);
    this.#fft.transform(this.#kernel, b);
    this.#a = new Float64Array(2 * size);
    this.#spectrum = new Float64Array(2 * size);
    this.#conv = new Float64Array(2 * size);
  }

  /**
   * Writes the power spectra of `first` and (when given) `second` (each `n` samples, already
   * windowed) to `outFirst` and `outSecond` (each at least {@link bins} long).
   */
  compute(
    first: ArrayLike<number>,
    outFirst: Float64Array,
    second?: ArrayLike<number>,
    outSecond?: Float64Array,
  ): void {
    const n = this.#n;
    const chirp = this.#chirp;
    const a = this.#a;
    a.fill(0);
    for (let j = 0; j < n; j++) {
      const re = first[j]!;
      const im = second ? second[j]! : 0;
      const cr = chirp[2 * j]!;
      const ci = chirp[2 * j + 1]!;
      a[2 * j] = re * cr - im * ci;
      a[2 * j + 1] = re * ci + im * cr;
    }
    const spectrum = this.#spectrum;
    this.#fft.transform(spectrum, a);
    const kernel = this.#kernel;
    for (let j = 0; j < spectrum.length; j += 2) {
      const re = spectrum[j]! * kernel[j]! - spectrum[j + 1]! * kernel[j + 1]!;
      const im = spectrum[j]! * kernel[j + 1]! + spectrum[j + 1]! * kernel[j]!;
      spectrum[j] = re;
      spectrum[j + 1] = im;
    }
    const conv = this.#conv;
    this.#fft.inverseTransform(conv, spectrum);
    // Z[k] = w[k] · conv[k]; needed at k and at n − k to separate the two real frames.
    const zr = (k: number): number => chirp[2 * k]! * conv[2 * k]! - chirp[2 * k + 1]! * conv[2 * k + 1]!;
    const zi = (k: number): number => chirp[2 * k]! * conv[2 * k + 1]! + chirp[2 * k + 1]! * conv[2 * k]!;
    for (let k = 0; k < this.bins; k++) {
      const m = k === 0 ? 0 : n - k;
      const ar = zr(k);
      const ai = zi(k);
      const br = zr(m);
      const bi = zi(m);
      if (!second) {
        outFirst[k] = ar * ar + ai * ai;
        continue;
      }
      // X1 = (Z[k] + conj(Z[n−k])) / 2, X2 = (Z[k] − conj(Z[n−k])) / 2i.
      const x1r = (ar + br) / 2;
      const x1i = (ai - bi) / 2;
      const x2r = (ai + bi) / 2;
      const x2i = (br - ar) / 2;
      outFirst[k] = x1r * x1r + x1i * x1i;
      outSecond![k] = x2r * x2r + x2i * x2i;
    }
  }
}
