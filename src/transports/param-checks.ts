/**
 * Checks for numeric settings (rates, channel counts, chunk counts, durations), shared by the
 * transport and pipeline parameters so a value is judged the same wherever it is given. Each
 * check throws an {@link InvalidOptionError} that names the setting, the accepted range and the
 * value it got.
 */
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "../audio/resampler.js";
import { InvalidOptionError } from "../errors.js";

/** Accepted sample rates, in Hz: what the resampler converts (so every rate can be converted). */
export const SAMPLE_RATE_RANGE = Object.freeze({ min: MIN_SAMPLE_RATE, max: MAX_SAMPLE_RATE });

/** Most interleaved channels a transport plays or receives. */
export const MAX_AUDIO_CHANNELS = 16;

/** Longest duration setting accepted, in ms (one hour): longer is a unit mistake. */
export const MAX_DURATION_MS = 3_600_000;

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return `an object of type ${value.constructor?.name ?? "Object"}`;
}

/** An integer number of Hz within {@link SAMPLE_RATE_RANGE}. */
export function checkSampleRate(setting: string, value: unknown): number {
  if (
    typeof value !== "number" ||
    !Number.isInteger(value) ||
    value < MIN_SAMPLE_RATE ||
    value > MAX_SAMPLE_RATE
  ) {
    throw new InvalidOptionError(
      `${setting} must be an integer sample rate in Hz from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} ` +
        `(got ${show(value)}); common rates are 8000, 16000, 24000 and 48000`,
    );
  }
  return value;
}

/** An integer from `min` to `max`. */
export function checkInteger(setting: string, value: unknown, min: number, max: number, unit = ""): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(
      `${setting} must be an integer from ${min} to ${max}${unit} (got ${show(value)})`,
    );
  }
  return value;
}

/** A finite number of ms from `min` (inclusive; exclusive when `minExclusive`) to `max`. */
export function checkDurationMs(
  setting: string,
  value: unknown,
  options: { min?: number; minExclusive?: boolean; max?: number } = {},
): number {
  const min = options.min ?? 0;
  const max = options.max ?? MAX_DURATION_MS;
  if (
    typeof value !== "number" ||
    !Number.isFinite(value) ||
    (options.minExclusive ? value <= min : value < min) ||
    value > max
  ) {
    const from = options.minExclusive ? `more than ${min}` : `from ${min}`;
    throw new InvalidOptionError(`${setting} must be a number of ms ${from} to ${max} (got ${show(value)})`);
  }
  return value;
}

/** A boolean. */
export function checkBoolean(setting: string, value: unknown): boolean {
  if (typeof value !== "boolean")
    throw new InvalidOptionError(`${setting} must be true or false (got ${show(value)})`);
  return value;
}

/**
 * Refuses keys that `known` does not have (a misspelt setting would otherwise be ignored
 * without a word), suggesting the closest known key.
 */
export function checkKnownKeys(owner: string, given: object, known: readonly string[]): void {
  for (const key of Object.keys(given)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase()) ?? closest(key, known);
    throw new InvalidOptionError(
      `${owner} has no setting "${key}"${near ? `; did you mean "${near}"?` : ""} (known: ${known.join(", ")})`,
    );
  }
}

function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(3, Math.floor(key.length / 4)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
