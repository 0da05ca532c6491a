import { InvalidOptionError } from "../../errors.js";

/**
 * Tuning of a {@link VADAnalyzer}, the same four knobs as Pipecat's `VADParams` (durations in
 * ms instead of seconds).
 *
 * A window of audio counts as speech when the model's confidence is at least `confidence`
 * **and** the smoothed volume is at least `minVolume`. Speech starts after `startMs` of speech
 * windows in a row and stops after `stopMs` of non-speech windows in a row (both rounded to a
 * whole number of model windows, at least one).
 */
export interface VADParams {
  /** Least model confidence (0..1) for a window to count as speech. @default 0.7 */
  readonly confidence: number;
  /** Speech needed before a start is reported, in ms. @default 200 */
  readonly startMs: number;
  /** Silence needed before a stop is reported, in ms (Pipecat's `stop_secs` 0.2). @default 200 */
  readonly stopMs: number;
  /**
   * Least smoothed volume (0..1) for a window to count as speech. See {@link VolumeMeter} for
   * the scale: 0.6 is about −50 dBFS RMS, so quiet background noise never counts, normal speech
   * (−35…−15 dBFS, 0.75…0.95) does. @default 0.6
   */
  readonly minVolume: number;
}

/** The defaults of {@link VADParams} (Pipecat's). */
export const DEFAULT_VAD_PARAMS: Readonly<VADParams> = Object.freeze({
  confidence: 0.7,
  startMs: 200,
  stopMs: 200,
  minVolume: 0.6,
});

/**
 * Fills in defaults over `base` and checks every value. Throws {@link InvalidOptionError} for a
 * value out of range (`confidence` and `minVolume` in 0..1, `startMs` and `stopMs` finite and ≥ 0).
 */
export function resolveVADParams(
  params: Partial<VADParams> = {},
  base: Readonly<VADParams> = DEFAULT_VAD_PARAMS,
): VADParams {
  const merged: VADParams = {
    confidence: params.confidence ?? base.confidence,
    startMs: params.startMs ?? base.startMs,
    stopMs: params.stopMs ?? base.stopMs,
    minVolume: params.minVolume ?? base.minVolume,
  };
  checkUnit("confidence", merged.confidence);
  checkUnit("minVolume", merged.minVolume);
  checkDuration("startMs", merged.startMs);
  checkDuration("stopMs", merged.stopMs);
  return merged;
}

function checkUnit(name: string, value: number): void {
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new InvalidOptionError(`VADParams.${name} must be a number from 0 to 1 (got ${String(value)})`);
  }
}

function checkDuration(name: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(
      `VADParams.${name} must be a finite number of ms ≥ 0 (got ${String(value)})`,
    );
  }
}
