import { InvalidOptionError } from "../../errors.js";
import type { FrameProcessorOptions } from "../../processors/frame-processor.js";

/** One result from a speech-to-text provider, as a concrete service hands it to the base. */
export interface TranscriptResult {
  /** The words heard (an empty interim is ignored; an empty final only answers a finalize). */
  readonly text: string;
  /** True when the provider will not revise this span any more (`TranscriptionFrame`). */
  readonly isFinal: boolean;
  /** BCP-47 language the provider detected; the service's `language` option otherwise. */
  readonly language?: string | undefined;
  /**
   * The provider produced this final in answer to the service's finalize (Deepgram
   * `from_finalize`): the user's turn is fully transcribed. Ends the TTFB measurement.
   */
  readonly fromFinalize?: boolean | undefined;
}

/** Options every speech-to-text service takes (durations in ms of the task clock). */
export interface STTServiceOptions extends Omit<FrameProcessorOptions, "direct"> {
  /**
   * Sample rate the provider is given, in Hz; input audio at another rate is resampled (and
   * mixed to mono) on the way. @default the pipeline's `audioInSampleRate`
   */
  sampleRate?: number;
  /** `userId` of the transcription frames. @default "" */
  userId?: string;
  /** Language asked of the provider and given to transcripts it does not label (BCP-47). */
  language?: string;
  /** Model name, reported with the metrics. */
  model?: string;
  /**
   * Longest time from the user's stop to the final transcript that still counts as its TTFB;
   * a final later than this (or none) gives no TTFB metric. Nothing waits on it. @default 5000
   */
  ttfbWindowMs?: number;
  /**
   * Whether a permanent failure (a rejected API key, a provider that gave up) is a fatal error
   * that ends the task. A service switcher holding several services sets it false and watches
   * `usable`. @default true
   */
  fatalOnFailure?: boolean;
  /**
   * Longest wait at the task's end for the provider's last results and close; then the stream
   * is dropped. @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Longest the start waits for the provider's connection; past it the pipeline starts anyway
   * and audio is dropped (counted) until the connection opens. @default 10000
   */
  startWaitMs?: number;
}

/** Counters of an STT service (for tests, metrics and "where did my audio go?"). */
export interface STTServiceStats {
  /** Audio handed to the provider (or, segmented, kept for a request), in ms. */
  audioSentMs: number;
  /** Audio the provider did not get because it was not connected (reconnecting, failed, full), in ms. */
  audioDroppedMs: number;
  /** Audio not sent while the user was muted (`UserMuteStartedFrame`), in ms. */
  audioMutedMs: number;
  /** Interim transcripts pushed. */
  interims: number;
  /** Final transcripts pushed. */
  finals: number;
  /** Times the provider was asked to finalize on the user's stop. */
  finalizes: number;
  /** Provider messages that could not be understood (said once, then counted). */
  malformedMessages: number;
  /** Characters cut from transcripts longer than `MAX_TRANSCRIPT_CHARS` (16,384; said once, then counted). */
  transcriptCharsCut: number;
}

/** The options with defaults applied and checked. */
export interface ResolvedSTTOptions {
  readonly sampleRate: number | undefined;
  readonly userId: string;
  readonly language: string | undefined;
  readonly model: string | undefined;
  readonly ttfbWindowMs: number;
  readonly fatalOnFailure: boolean;
  readonly closeTimeoutMs: number;
  readonly startWaitMs: number;
}

/** Applies defaults; an {@link InvalidOptionError} names a bad setting and what it must be. */
export function resolveSTTOptions(owner: string, options: STTServiceOptions): ResolvedSTTOptions {
  const rate = options.sampleRate;
  if (rate !== undefined && (!Number.isInteger(rate) || rate < 1000 || rate > 768_000)) {
    throw new InvalidOptionError(
      `${owner}: sampleRate must be a whole number of Hz from 1000 to 768000 (got ${String(rate)}); ` +
        "leave it out to use the pipeline's audioInSampleRate",
    );
  }
  if (options.userId !== undefined && typeof options.userId !== "string") {
    throw new InvalidOptionError(`${owner}: userId must be a string (got ${typeof options.userId})`);
  }
  return {
    sampleRate: rate,
    userId: options.userId ?? "",
    language: options.language,
    model: options.model,
    ttfbWindowMs: positiveMs(owner, "ttfbWindowMs", options.ttfbWindowMs, 5_000),
    fatalOnFailure: options.fatalOnFailure ?? true,
    closeTimeoutMs: positiveMs(owner, "closeTimeoutMs", options.closeTimeoutMs, 2_000),
    startWaitMs: positiveMs(owner, "startWaitMs", options.startWaitMs, 10_000),
  };
}

/** A setting in ms above 0 (finite), or its fallback. */
export function positiveMs(
  owner: string,
  setting: string,
  value: number | undefined,
  fallback: number,
): number {
  return msSetting(owner, setting, value, fallback, false);
}

/** A setting in ms that may be 0 (finite, ≥ 0), or its fallback. */
export function nonNegativeMs(
  owner: string,
  setting: string,
  value: number | undefined,
  fallback: number,
): number {
  return msSetting(owner, setting, value, fallback, true);
}

function msSetting(
  owner: string,
  setting: string,
  value: number | undefined,
  fallback: number,
  zeroOk: boolean,
): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!zeroOk && v === 0)) {
    throw new InvalidOptionError(
      `${owner}: ${setting} must be a finite number of ms ${zeroOk ? "≥ 0" : "above 0"} (got ${String(v)})`,
    );
  }
  return v;
}

/** A count setting (a whole number, at least `min`), or its fallback. */
export function wholeCount(
  owner: string,
  setting: string,
  value: number | undefined,
  fallback: number,
  min: 0 | 1,
): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new InvalidOptionError(
      `${owner}: ${setting} must be a whole number ${min === 0 ? "≥ 0" : "above 0"} (got ${String(v)})`,
    );
  }
  return v;
}
