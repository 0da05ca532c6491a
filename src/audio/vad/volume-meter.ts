/** Loudness (dBFS RMS) that maps to volume 0. */
const FLOOR_DBFS = -110;
/** Width of the dBFS range mapped to 0..1. */
const RANGE_DB = 100;

/**
 * Volume of a window on the 0..1 scale of {@link VADParams.minVolume}:
 * `clamp((dBFS + 110) / 100, 0, 1)` where dBFS is the window's RMS level relative to full scale
 * (a full-scale square wave is 0 dBFS).
 *
 * This is Pipecat's scale: Pipecat measures BS.1770 loudness of the raw int16 values and
 * normalises −20…80 to 0…1, and raw-int16 loudness is about dBFS + 90. We use plain RMS (no
 * K-weighting), which is within a few dB of it for speech. So −50 dBFS ↦ 0.6 (the default
 * threshold), −30 dBFS ↦ 0.8, −10 dBFS ↦ 1, digital silence ↦ 0.
 */
export function windowVolume(window: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < window.length; i++) {
    const x = window[i]!;
    sum += x * x;
  }
  if (sum === 0 || window.length === 0) return 0;
  const dbfs = 10 * Math.log10(sum / window.length);
  return Math.min(1, Math.max(0, (dbfs - FLOOR_DBFS) / RANGE_DB));
}

/**
 * Smoothed volume of a stream of windows, for the `minVolume` gate of a VAD analyzer.
 *
 * Each window's {@link windowVolume} is folded into an exponential moving average. Pipecat
 * smooths with a factor of 0.2 both ways; we keep 0.2 when the level falls (so short dips
 * between words do not close the gate) but use 0.5 when it rises, so the gate opens about
 * two windows (≈ 64 ms) after a speech onset instead of six (≈ 190 ms), which would otherwise
 * add to the `startMs` latency of every turn.
 */
export class VolumeMeter {
  /** Weight of a new window when the level rises. */
  static readonly ATTACK = 0.5;
  /** Weight of a new window when the level falls. */
  static readonly RELEASE = 0.2;
  #smoothed = 0;
  #last = 0;

  /** The smoothed volume after the last window, 0..1 (0 before the first). */
  get volume(): number {
    return this.#smoothed;
  }

  /** The last window's own volume, unsmoothed ({@link windowVolume}; 0 before the first). */
  get lastWindowVolume(): number {
    return this.#last;
  }

  /** Folds in one window (float samples in −1..1); returns the new smoothed volume. */
  measure(window: Float32Array): number {
    const v = windowVolume(window);
    this.#last = v;
    const k = v > this.#smoothed ? VolumeMeter.ATTACK : VolumeMeter.RELEASE;
    this.#smoothed += k * (v - this.#smoothed);
    return this.#smoothed;
  }

  /** Forgets the history (volume 0). */
  reset(): void {
    this.#smoothed = 0;
    this.#last = 0;
  }
}
