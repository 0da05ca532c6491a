import { AudioConverter } from "../../audio/audio-converter.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { describe } from "../../errors.js";
import { InputAudioRawFrame } from "../../frames/audio.js";
import { type Frame, FrameDirection } from "../../frames/frame.js";
import type { CancelFrame, EndFrame, StartFrame } from "../../frames/lifecycle.js";
import { MetricsFrame } from "../../frames/metrics.js";
import {
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../frames/speaking.js";
import { InterimTranscriptionFrame, TranscriptionFrame } from "../../frames/text.js";
import { UserMuteStartedFrame, UserMuteStoppedFrame } from "../../frames/user-mute.js";
import { FrameProcessor } from "../../processors/frame-processor.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import {
  type ResolvedSTTOptions,
  type STTServiceOptions,
  type STTServiceStats,
  type TranscriptResult,
  resolveSTTOptions,
} from "./stt-service-options.js";
import { STTTtfb } from "./stt-ttfb.js";

export type { STTServiceOptions, STTServiceStats, TranscriptResult };

/** Longest wait for the provider when the task is cancelled, in ms: cancel does not wait on peers. */
const CANCEL_CLOSE_MS = 200;

/**
 * Most characters of one transcript passed on; the rest is cut (said once, counted). A minute of
 * fast speech is about 1,000 characters: a longer transcript is a provider gone wrong, and each
 * one would otherwise go whole to every observer and, through RTVI, to the client.
 */
export const MAX_TRANSCRIPT_CHARS = 16_384;

/** What {@link STTService.connect} is told. */
export interface STTConnectInfo {
  /** Rate of the audio {@link STTService.sendAudio} will get, in Hz (mono PCM16). */
  readonly sampleRate: number;
}

/** How {@link STTService.disconnect} should end. */
export interface STTDisconnectInfo {
  /** True at the task's end: deliver the last results first. False at cancel: stop now. */
  readonly graceful: boolean;
  /** Longest wait on the provider, in ms. */
  readonly timeoutMs: number;
}

/**
 * The base every speech-to-text service extends (docs/design/stt-services.md). It owns the
 * lifecycle and the frames; a concrete service implements a few verbs:
 * {@link connect} (start), {@link sendAudio} (per audio chunk), {@link finalize} (the user
 * stopped: ask for the final result now), {@link disconnect} (end or cancel), and reports what
 * the provider said with {@link handleTranscript}, {@link reportMalformed} and {@link fail}.
 * A concrete service never overrides `processFrame` or the lifecycle hooks, and never calls `super`.
 *
 * What the base does:
 * - `InputAudioRawFrame`s (system frames) pass on at once; downstream ones are then converted to
 *   the service's rate and mono (the repo's resampler) and handed to `sendAudio`. Empty chunks are
 *   never sent (an empty message ends a Deepgram stream). While muted (`UserMuteStartedFrame` …
 *   `UserMuteStoppedFrame`) nothing is sent (a streaming provider's keep-alive covers the gap).
 * - The user's start (`VADUserStartedSpeakingFrame` or `UserStartedSpeakingFrame`, either way,
 *   once per speech) calls {@link speechStarted}; the stop calls {@link finalize} once.
 * - Results become `InterimTranscriptionFrame` / `TranscriptionFrame` (the `userId` option, a
 *   timestamp from the task clock, the language), pushed downstream as they come. They belong to
 *   no turn: an interruption (which the user's own speech causes) never drops them.
 * - Metrics (`MetricsFrame`): `ttfb` = ms from the user's stop to the final transcript that answers
 *   it (with a finalize: the provider's answer to it); `usage` = `{ audioSeconds }` sent, at each
 *   stop and at the end.
 * - A permanent failure ({@link fail}) is said once (`fatalOnFailure`: it ends the task), the
 *   service becomes unusable and audio stops going to it; audio keeps flowing downstream.
 * - End: {@link disconnect} graceful, bounded by `closeTimeoutMs`, so the last results come out
 *   before the `EndFrame`. Cancel: disconnect with a 200 ms bound.
 */
export abstract class STTService extends FrameProcessor {
  /** Counters; see {@link STTServiceStats}. */
  readonly stats: STTServiceStats = {
    audioSentMs: 0,
    audioDroppedMs: 0,
    audioMutedMs: 0,
    interims: 0,
    finals: 0,
    finalizes: 0,
    malformedMessages: 0,
    transcriptCharsCut: 0,
  };
  /** The settings every STT service shares (defaults applied). */
  protected readonly settings: ResolvedSTTOptions;
  readonly #repeats: RepeatReporter;
  readonly #ttfb: STTTtfb;
  #sampleRate = 0;
  #converter: AudioConverter | undefined;
  #usable = true;
  #muted = false;
  #speaking = false;
  /** The user's speech began while muted: it is ignored to its stop (no segment, no finalize). */
  #speechMuted = false;
  /** Duration of input the resampler kept without output yet (chunks shorter than a sample). */
  #heldMs = 0;
  #unbilledMs = 0;
  #disconnecting: Promise<void> | undefined;

  constructor(options: STTServiceOptions = {}) {
    super(options);
    this.settings = resolveSTTOptions(this.name, options);
    this.#ttfb = new STTTtfb(this.settings.ttfbWindowMs);
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.context ? this.clock.now() : 0),
      report: (message) => void this.pushError(message),
    });
  }

  // ---------------------------------------------------------------- verbs of a concrete service

  /**
   * Opens the stream to the provider (start hook). May resolve before the connection is open;
   * the start waits for it at most `startWaitMs`. A failure that cannot be retried is given to
   * {@link fail}; a throw is reported the same way.
   */
  protected abstract connect(info: STTConnectInfo): Promise<void>;

  /**
   * Sends one chunk of mono PCM16 at the rate given to {@link connect} (never empty). Returns
   * false when it was dropped (not connected, reconnecting): counted in `stats.audioDroppedMs`.
   * Must not throw and must not block.
   */
  protected abstract sendAudio(audio: Int16Array): boolean;

  /**
   * Ends the stream (task end: `graceful`, deliver the final results within `timeoutMs`; cancel:
   * stop now). Called once. Must settle within about `timeoutMs`.
   */
  protected abstract disconnect(info: STTDisconnectInfo): Promise<void>;

  /**
   * The user stopped speaking: ask the provider for the final result now (Deepgram `Finalize`).
   * Returns true when asked (the TTFB then waits for a result marked `fromFinalize`), false when
   * the provider has no such verb. @default false
   */
  protected finalize(): boolean {
    return false;
  }

  /** The user started speaking (segmented services open a segment here). @default nothing */
  protected speechStarted(): void {}

  /**
   * Whether audio accepted by {@link sendAudio} is billed as sent (streaming). A segmented service
   * returns false and reports each request's audio with {@link addUsage}. @default true
   */
  protected get billsSentAudio(): boolean {
    return true;
  }

  // ---------------------------------------------------------------- helpers for a concrete service

  /** The rate given to the provider, in Hz (known from the start on). */
  protected get sampleRate(): number {
    return this.#sampleRate;
  }

  /** False once the service failed for good: no audio goes to it any more. */
  get usable(): boolean {
    return this.#usable;
  }

  /**
   * Pushes a provider result downstream: an interim as `InterimTranscriptionFrame` (empty ones
   * are ignored), a final as `TranscriptionFrame` (an empty final only ends the TTFB wait).
   */
  protected handleTranscript(result: TranscriptResult): void {
    const now = this.clock.now();
    const language = result.language ?? this.settings.language;
    const text = this.#bounded(result.text);
    if (!result.isFinal) {
      if (text.trim() === "") return;
      this.stats.interims++;
      void this.pushFrame(new InterimTranscriptionFrame(text, this.settings.userId, now, language));
      return;
    }
    if (text.trim() !== "") {
      this.stats.finals++;
      void this.pushFrame(new TranscriptionFrame(text, this.settings.userId, now, language));
    }
    const ttfb = this.#ttfb.final(now, result.fromFinalize === true);
    if (ttfb !== undefined) this.#pushMetric("ttfb", ttfb);
  }

  /** `text`, cut at {@link MAX_TRANSCRIPT_CHARS} (never inside a surrogate pair); a cut is said once, then counted. */
  #bounded(text: string): string {
    if (text.length <= MAX_TRANSCRIPT_CHARS) return text;
    let keep = MAX_TRANSCRIPT_CHARS;
    const last = text.charCodeAt(keep - 1);
    if (last >= 0xd800 && last <= 0xdbff) keep--;
    this.stats.transcriptCharsCut += text.length - keep;
    this.#repeats.reportOnce(
      "problem:transcript-too-long",
      () =>
        `${this.name}: the provider sent a transcript of ${text.length} characters; ` +
        `only the first ${keep} were passed on (a transcript is at most ${MAX_TRANSCRIPT_CHARS})`,
    );
    return text.slice(0, keep);
  }

  /**
   * A provider message could not be understood: the first of each `cause` is reported as a
   * (non-fatal) error with `message()`, the rest counted (`stats.malformedMessages`) and summarised.
   */
  protected reportMalformed(cause: string, message: () => string): void {
    this.stats.malformedMessages++;
    this.#repeats.reportOnce(`malformed:${cause}`, message);
  }

  /**
   * A problem the service survives (a failed request): the first of each `cause` (a short stable
   * key) is reported as a non-fatal error with `message()`, repeats are counted and summarised.
   */
  protected reportProblem(cause: string, message: () => string): void {
    this.#repeats.reportOnce(`problem:${cause}`, message);
  }

  /**
   * The service cannot work (a rejected key, a provider that gave up): said once, as a fatal
   * error unless `fatalOnFailure` is false; the service is marked unusable and gets no more audio.
   */
  protected fail(error: Error): void {
    if (!this.#usable) return;
    this.#usable = false;
    void this.pushError(error, { fatal: this.settings.fatalOnFailure });
  }

  /** Adds `ms` of audio sent to the provider to the next usage metric (segmented services). */
  protected addUsage(ms: number): void {
    this.#unbilledMs += ms;
  }

  // ---------------------------------------------------------------- lifecycle (owned here)

  protected override async start(frame: StartFrame): Promise<void> {
    this.#sampleRate = this.settings.sampleRate ?? frame.params.audioInSampleRate;
    this.#converter = new AudioConverter({ outRate: this.#sampleRate, outChannels: 1, clock: this.clock });
    const connecting = this.connect({ sampleRate: this.#sampleRate }).catch((error: unknown) =>
      this.fail(error instanceof Error ? error : new Error(describe(error))),
    );
    try {
      await deadline(this.clock, connecting, this.settings.startWaitMs, `${this.name}: connecting`);
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      this.logger.warn(
        `${this.name}: not connected after startWaitMs (${this.settings.startWaitMs} ms); the pipeline starts anyway ` +
          "and audio is dropped (counted in stats.audioDroppedMs) until the connection opens",
        { processor: this.name },
      );
    }
  }

  protected override async end(_frame: EndFrame): Promise<void> {
    await this.#disconnect(true, this.settings.closeTimeoutMs);
    this.#pushUsage();
    this.#repeats.flush();
  }

  protected override async cancel(_frame: CancelFrame): Promise<void> {
    await this.#disconnect(false, CANCEL_CLOSE_MS);
  }

  protected override async cleanup(): Promise<void> {
    await this.#disconnect(false, CANCEL_CLOSE_MS);
    this.#converter?.dispose();
    this.#repeats.flush();
  }

  override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
    if (frame instanceof InputAudioRawFrame) {
      await this.pushFrame(frame, direction);
      if (direction === FrameDirection.DOWNSTREAM) await this.#takeAudio(frame);
      return;
    }
    if (frame instanceof VADUserStartedSpeakingFrame || frame instanceof UserStartedSpeakingFrame) {
      this.#userStarted();
    } else if (frame instanceof VADUserStoppedSpeakingFrame || frame instanceof UserStoppedSpeakingFrame) {
      this.#userStopped();
    } else if (frame instanceof UserMuteStartedFrame) {
      this.#muted = true;
    } else if (frame instanceof UserMuteStoppedFrame) {
      this.#muted = false;
    }
    await this.pushFrame(frame, direction);
  }

  // ---------------------------------------------------------------- internals

  async #takeAudio(frame: InputAudioRawFrame): Promise<void> {
    if (!this.#usable || this.#disconnecting) return;
    const ms = frame.durationMs;
    if (this.#muted) {
      this.stats.audioMutedMs += ms;
      return;
    }
    const audio = await this.#convert(frame);
    if (audio === undefined) return;
    // An empty message ends a Deepgram stream: never send one. A chunk shorter than one output
    // sample comes out empty (the resampler keeps it): its duration goes with the next chunk sent,
    // which carries its audio, so sent + dropped + muted stays what came in.
    const taken = ms + this.#heldMs;
    if (audio.length === 0) {
      this.#heldMs = taken;
      return;
    }
    this.#heldMs = 0;
    if (this.sendAudio(audio)) {
      this.stats.audioSentMs += taken;
      if (this.billsSentAudio) this.#unbilledMs += taken;
    } else {
      this.stats.audioDroppedMs += taken;
    }
  }

  async #convert(frame: InputAudioRawFrame): Promise<Int16Array | undefined> {
    const converter = this.#converter!;
    const { sampleRate, numChannels } = frame;
    if (sampleRate === this.#sampleRate && numChannels === 1) return frame.audio;
    try {
      if (!converter.accepts(sampleRate, numChannels)) await converter.prepare(sampleRate, numChannels);
      return converter.convert(frame.audio, sampleRate, numChannels);
    } catch (error) {
      this.#repeats.reportOnce(
        `convert:${sampleRate}`,
        () =>
          `${this.name}: cannot convert ${sampleRate} Hz × ${numChannels} audio to ${this.#sampleRate} Hz mono ` +
          `(${describe(error)}); that audio is not transcribed. Check the input transport's sample rate`,
      );
      return undefined;
    }
  }

  #userStarted(): void {
    if (this.#speaking) return;
    this.#speaking = true;
    // Speech that starts while muted is not the provider's: nothing was sent for it, and a segment
    // opened now would be sent at the stop with the audio kept from before the mute.
    this.#speechMuted = this.#muted;
    if (this.#speechMuted) return;
    this.#ttfb.reset();
    if (this.#usable) this.speechStarted();
  }

  #userStopped(): void {
    if (!this.#speaking) return;
    this.#speaking = false;
    if (this.#speechMuted) return;
    const now = this.clock.now();
    const finalizing = this.#usable && !this.#disconnecting && this.finalize();
    if (finalizing) this.stats.finalizes++;
    this.#ttfb.stopped(now, finalizing);
    this.#pushUsage();
  }

  #pushUsage(): void {
    if (this.#unbilledMs <= 0) return;
    const audioSeconds = this.#unbilledMs / 1000;
    this.#unbilledMs = 0;
    this.#pushMetric("stt_usage", { audioSeconds });
  }

  #pushMetric(kind: "ttfb" | "stt_usage", value: number | Record<string, number>): void {
    const model = this.settings.model;
    const data = { processor: this.name, kind, value, ...(model === undefined ? {} : { model }) };
    void this.pushFrame(new MetricsFrame([data]));
  }

  #disconnect(graceful: boolean, timeoutMs: number): Promise<void> {
    this.#disconnecting ??= this.disconnect({ graceful, timeoutMs }).catch((error: unknown) =>
      this.logger.warn(`${this.name}: closing the provider stream failed: ${describe(error)}`, {
        processor: this.name,
      }),
    );
    return this.#disconnecting;
  }
}
