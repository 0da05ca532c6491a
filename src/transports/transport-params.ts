import type { AudioFilter } from "../audio/filters/audio-filter.js";
import { type AudioMixer, checkAudioMixer } from "../audio/mixers/audio-mixer.js";
import { InvalidOptionError } from "../errors.js";
import {
  MAX_AUDIO_CHANNELS,
  checkBoolean,
  checkDurationMs,
  checkInteger,
  checkKnownKeys,
  checkSampleRate,
} from "./param-checks.js";

/** What a transport does with audio (docs/design/output-pacing.md). Durations in ms, rates in Hz. */
export interface TransportParams {
  /** Receive audio from the client. @default false */
  audioInEnabled: boolean;
  /** Rate of the audio the client sends (integer Hz, 1000 … 768000); resampled to the pipeline's input rate. @default the pipeline's input rate */
  audioInSampleRate: number | undefined;
  /**
   * Channels of the audio the input pushes into the pipeline (1 … 16), and the default layout of
   * `pushAudio`. Input with another layout is converted (more channels averaged, fewer copied).
   * @default 1
   */
  audioInChannels: number;
  /** Noise filter applied to input audio before it enters the pipeline. */
  audioInFilter: AudioFilter | undefined;
  /** Push input audio downstream (off: the input transport swallows it). @default true */
  audioInPassthrough: boolean;
  /** Send audio to the client. @default false */
  audioOutEnabled: boolean;
  /** Rate the client plays at (integer Hz, 1000 … 768000). @default the pipeline's output rate */
  audioOutSampleRate: number | undefined;
  /** Channels the client plays (1 … 16). @default 1 */
  audioOutChannels: number;
  /** Output chunk length in units of 10 ms (1 … 100): one chunk leaves per clock tick. @default 4 (40 ms) */
  audioOut10msChunks: number;
  /**
   * Background mixer: one mixer for the default destination, or one per destination name (""
   * is the default destination). One mixer object serves one destination: the same object
   * under two destinations, or a single mixer on an output with named destinations, is refused.
   */
  audioOutMixer: AudioMixer | Record<string, AudioMixer> | undefined;
  /** Extra named output destinations (tracks) besides the default one: distinct, non-empty names. @default [] */
  audioOutDestinations: readonly string[];
  /** Silence (mixed with the background) played after the last audio when the pipeline ends (0 … 3600000). @default 2000 */
  audioOutEndSilenceMs: number;
  /**
   * Most audio an output destination queues before the frame that brings more waits (backpressure
   * into the pipeline). At least one chunk (`audioOut10msChunks × 10` ms). @default 30000
   */
  audioOutMaxQueuedMs: number;
  /** A late sender writes at most this many chunks back to back to catch up (1 … 100), then re-anchors. @default 4 */
  audioOutMaxCatchUpChunks: number;
  /** A write that has not settled after this long counts as a stalled sink: output stops (> 0). @default 2000 */
  audioOutWriteTimeoutMs: number;
  /**
   * Longest wait for a mixer's `start()`, `processFrame()` or `stop()`; a mixer that overruns it
   * is turned off and the audio goes on without it (> 0). @default 5000
   */
  audioOutMixerTimeoutMs: number;
  /** Longest wait for the transport's `open()` when it starts; past it the transport fails (> 0). @default 10000 */
  openTimeoutMs: number;
  /** Longest wait for the transport's `close()` at end, cancel or teardown (> 0). @default 1000 */
  closeTimeoutMs: number;
  /** `BotStoppedSpeakingFrame` when no bot audio was played for this long (fallback, > 0). @default 3000 */
  botSpeakingFallbackMs: number;
}

/** The default {@link TransportParams}. */
export const DEFAULT_TRANSPORT_PARAMS: Readonly<TransportParams> = Object.freeze({
  audioInEnabled: false,
  audioInSampleRate: undefined,
  audioInChannels: 1,
  audioInFilter: undefined,
  audioInPassthrough: true,
  audioOutEnabled: false,
  audioOutSampleRate: undefined,
  audioOutChannels: 1,
  audioOut10msChunks: 4,
  audioOutMixer: undefined,
  audioOutDestinations: [],
  audioOutEndSilenceMs: 2_000,
  audioOutMaxQueuedMs: 30_000,
  audioOutMaxCatchUpChunks: 4,
  audioOutWriteTimeoutMs: 2_000,
  audioOutMixerTimeoutMs: 5_000,
  openTimeoutMs: 10_000,
  closeTimeoutMs: 1_000,
  botSpeakingFallbackMs: 3_000,
});

const KNOWN_KEYS = Object.keys(DEFAULT_TRANSPORT_PARAMS);

/**
 * Fills in defaults and checks every value where it is given, with an error that names the
 * setting, the accepted range and what it got. Unknown keys are refused (a misspelt setting
 * would otherwise be ignored). What it accepts cannot make an output spin or stall: every
 * rate, channel count, chunk count and duration is within a range the output runs with.
 */
export function resolveTransportParams(params: Partial<TransportParams> = {}): Readonly<TransportParams> {
  if (params === null || typeof params !== "object") {
    throw new InvalidOptionError(`TransportParams must be an object (got ${String(params)})`);
  }
  checkKnownKeys("TransportParams", params, KNOWN_KEYS);
  const p = { ...DEFAULT_TRANSPORT_PARAMS, ...stripUndefined(params) };
  const name = (key: keyof TransportParams): string => `TransportParams.${key}`;
  checkBoolean(name("audioInEnabled"), p.audioInEnabled);
  checkBoolean(name("audioInPassthrough"), p.audioInPassthrough);
  checkBoolean(name("audioOutEnabled"), p.audioOutEnabled);
  if (p.audioInSampleRate !== undefined) checkSampleRate(name("audioInSampleRate"), p.audioInSampleRate);
  if (p.audioOutSampleRate !== undefined) checkSampleRate(name("audioOutSampleRate"), p.audioOutSampleRate);
  checkInteger(name("audioInChannels"), p.audioInChannels, 1, MAX_AUDIO_CHANNELS);
  checkInteger(name("audioOutChannels"), p.audioOutChannels, 1, MAX_AUDIO_CHANNELS);
  checkInteger(name("audioOut10msChunks"), p.audioOut10msChunks, 1, 100, " (× 10 ms)");
  checkInteger(name("audioOutMaxCatchUpChunks"), p.audioOutMaxCatchUpChunks, 1, 100);
  checkDurationMs(name("audioOutEndSilenceMs"), p.audioOutEndSilenceMs);
  const chunkMs = p.audioOut10msChunks * 10;
  if (typeof p.audioOutMaxQueuedMs === "number" && p.audioOutMaxQueuedMs < chunkMs) {
    throw new InvalidOptionError(
      `TransportParams.audioOutMaxQueuedMs must be at least one chunk (${chunkMs} ms with audioOut10msChunks = ` +
        `${p.audioOut10msChunks}), or nothing could ever be queued and played (got ${String(p.audioOutMaxQueuedMs)})`,
    );
  }
  checkDurationMs(name("audioOutMaxQueuedMs"), p.audioOutMaxQueuedMs, { min: chunkMs });
  for (const key of [
    "audioOutWriteTimeoutMs",
    "audioOutMixerTimeoutMs",
    "openTimeoutMs",
    "closeTimeoutMs",
    "botSpeakingFallbackMs",
  ] as const) {
    // At least 1 ms: a deadline so small that `now + ms === now` re-arms at the same instant.
    checkDurationMs(name(key), p[key], { min: 1 });
  }
  checkDestinations(p.audioOutDestinations);
  checkMixers(p.audioOutMixer, p.audioOutDestinations);
  return Object.freeze(p);
}

/** The mixer of `destination` ("" is the default destination), if any. */
export function mixerFor(params: Readonly<TransportParams>, destination: string): AudioMixer | undefined {
  const m = params.audioOutMixer;
  if (m === undefined) return undefined;
  if (isSingleMixer(m)) return destination === "" ? m : undefined;
  return m[destination];
}

/**
 * A map of mixers is a plain object (an object literal) whose every value is an object or
 * undefined; anything else (a class instance, an object with methods) is one mixer.
 */
function isSingleMixer(m: AudioMixer | Record<string, AudioMixer>): m is AudioMixer {
  const proto: unknown = Object.getPrototypeOf(m);
  if (proto !== Object.prototype && proto !== null) return true;
  const values = Object.values(m) as unknown[];
  return values.length === 0 || values.some((v) => v !== undefined && (v === null || typeof v !== "object"));
}

function checkDestinations(value: unknown): void {
  if (!Array.isArray(value)) {
    throw new InvalidOptionError(
      `TransportParams.audioOutDestinations must be an array of destination names (got ${String(value)})`,
    );
  }
  const seen = new Set<string>();
  for (const d of value) {
    if (typeof d !== "string" || d === "") {
      throw new InvalidOptionError(
        `TransportParams.audioOutDestinations: every name must be a non-empty string (got ${JSON.stringify(d)}); ` +
          'the default destination is always there and is called ""',
      );
    }
    if (seen.has(d)) throw new InvalidOptionError(`TransportParams.audioOutDestinations names "${d}" twice`);
    seen.add(d);
  }
}

function checkMixers(value: unknown, destinations: readonly string[]): void {
  if (value === undefined) return;
  const setting = "TransportParams.audioOutMixer";
  if (value === null || typeof value !== "object") checkAudioMixer(value, setting); // throws, naming the type
  const m = value as AudioMixer | Record<string, AudioMixer>;
  if (isSingleMixer(m)) {
    checkAudioMixer(m, setting);
    if (destinations.length > 0) {
      throw new InvalidOptionError(
        `${setting} is one mixer, but the output has ${destinations.length + 1} destinations ` +
          `("", ${destinations.map((d) => `"${d}"`).join(", ")}): one mixer keeps one playback position and ` +
          'cannot serve several. Give a map with one mixer per destination that needs background sound, e.g. { "": mixer }',
      );
    }
    return;
  }
  const known = new Set(["", ...destinations]);
  const seen = new Map<AudioMixer, string>();
  for (const [destination, mixer] of Object.entries(m)) {
    if (!known.has(destination)) {
      throw new InvalidOptionError(
        `${setting} has a mixer for destination "${destination}", which is not an output destination ` +
          `(known: ${[...known].map((d) => `"${d}"`).join(", ")}); add it to TransportParams.audioOutDestinations`,
      );
    }
    if (mixer === undefined) continue;
    checkAudioMixer(mixer, `${setting}["${destination}"]`);
    const other = seen.get(mixer);
    if (other !== undefined) {
      throw new InvalidOptionError(
        `${setting}: the same mixer object is given for destinations "${other}" and "${destination}"; ` +
          "a mixer keeps one playback position, so give each destination its own mixer",
      );
    }
    seen.set(mixer, destination);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
