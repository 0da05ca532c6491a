import type { AudioFilter } from "../audio/filters/audio-filter.js";
import type { AudioMixer } from "../audio/mixers/audio-mixer.js";
import { InvalidOptionError } from "../errors.js";

/** What a transport does with audio (DESIGN §6). Durations in ms, rates in Hz. */
export interface TransportParams {
  /** Receive audio from the client. @default false */
  audioInEnabled: boolean;
  /** Rate of the audio the client sends; resampled to the pipeline's input rate. @default the pipeline's input rate */
  audioInSampleRate: number | undefined;
  /**
   * Channels of the audio the input pushes into the pipeline, and the default layout of
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
  /** Rate the client plays at. @default the pipeline's output rate */
  audioOutSampleRate: number | undefined;
  /** Channels the client plays. @default 1 */
  audioOutChannels: number;
  /** Output chunk length in units of 10 ms: one chunk leaves per clock tick. @default 4 (40 ms) */
  audioOut10msChunks: number;
  /** Background mixer: one for every destination, or one per destination name ("" is the default destination). */
  audioOutMixer: AudioMixer | Record<string, AudioMixer> | undefined;
  /** Extra named output destinations (tracks) besides the default one. @default [] */
  audioOutDestinations: readonly string[];
  /** Silence (mixed with the background) played after the last audio when the pipeline ends. @default 2000 */
  audioOutEndSilenceMs: number;
  /**
   * Most audio an output destination queues before the frame that brings more waits (backpressure
   * into the pipeline). @default 30000
   */
  audioOutMaxQueuedMs: number;
  /** A late sender writes at most this many chunks back to back to catch up, then re-anchors. @default 4 */
  audioOutMaxCatchUpChunks: number;
  /** A write that has not settled after this long counts as a stalled sink: output stops. @default 2000 */
  audioOutWriteTimeoutMs: number;
  /** `BotStoppedSpeakingFrame` when no bot audio was played for this long (fallback). @default 3000 */
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
  botSpeakingFallbackMs: 3_000,
});

/** Fills in defaults and checks values, with errors that say what to change. */
export function resolveTransportParams(params: Partial<TransportParams> = {}): Readonly<TransportParams> {
  const p = { ...DEFAULT_TRANSPORT_PARAMS, ...stripUndefined(params) };
  const positiveInt = (name: keyof TransportParams, value: unknown): void => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new InvalidOptionError(
        `TransportParams.${name} must be a positive integer (got ${String(value)})`,
      );
    }
  };
  const nonNegative = (name: keyof TransportParams, value: unknown): void => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new InvalidOptionError(
        `TransportParams.${name} must be a number of ms ≥ 0 (got ${String(value)})`,
      );
    }
  };
  positiveInt("audioInChannels", p.audioInChannels);
  positiveInt("audioOutChannels", p.audioOutChannels);
  positiveInt("audioOut10msChunks", p.audioOut10msChunks);
  positiveInt("audioOutMaxCatchUpChunks", p.audioOutMaxCatchUpChunks);
  if (p.audioInSampleRate !== undefined) positiveInt("audioInSampleRate", p.audioInSampleRate);
  if (p.audioOutSampleRate !== undefined) positiveInt("audioOutSampleRate", p.audioOutSampleRate);
  nonNegative("audioOutEndSilenceMs", p.audioOutEndSilenceMs);
  nonNegative("audioOutMaxQueuedMs", p.audioOutMaxQueuedMs);
  nonNegative("audioOutWriteTimeoutMs", p.audioOutWriteTimeoutMs);
  nonNegative("botSpeakingFallbackMs", p.botSpeakingFallbackMs);
  return Object.freeze(p);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
