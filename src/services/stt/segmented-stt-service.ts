import { SampleList } from "../../audio/sample-list.js";
import { deadline } from "../../clock/deadline.js";
import { CancelledError, InvalidOptionError, describe } from "../../errors.js";
import { TranscriptionPendingFrame, TranscriptionSettledFrame } from "../../frames/transcribing.js";
import { type STTDisconnectInfo, STTService } from "./stt-service.js";
import type { STTServiceOptions, TranscriptResult } from "./stt-service-options.js";

/** Options of a {@link SegmentedSTTService} (durations in ms). */
export interface SegmentedSTTServiceOptions extends STTServiceOptions {
  /**
   * Audio kept from before the user's start and sent with the segment: VAD confirms speech only
   * after `startMs` of it, so the first syllable would be lost without it. @default 500
   */
  prerollMs?: number;
  /**
   * Longest segment. Speech longer than this is sent in pieces of this length (each its own
   * request and transcript), so memory stays bounded whatever the VAD does. @default 30000
   */
  maxSegmentMs?: number;
  /** Longest wait for one request's answer; then it is abandoned and reported. @default 10000 */
  requestTimeoutMs?: number;
}

/** What {@link SegmentedSTTService.transcribe} is given besides the audio. */
export interface SegmentInfo {
  /** Rate of the audio, in Hz (mono PCM16). */
  readonly sampleRate: number;
  /** Aborted when the request's deadline passes or the task is cancelled: stop the request. */
  readonly signal: AbortSignal;
}

/**
 * The base of speech-to-text services that transcribe a whole utterance per request (HTTP
 * services such as OpenAI's transcription endpoint, local recognisers). It keeps the user's
 * speech from the start (plus `prerollMs` before it) to the stop, bounded by `maxSegmentMs`,
 * then calls {@link transcribe} once; the answer is pushed as a `TranscriptionFrame` (no
 * interims). Each request is announced downstream with a `TranscriptionPendingFrame` when it is
 * sent and closed with a `TranscriptionSettledFrame` when it is answered (after its transcript),
 * whatever the answer (words, nothing, an error, its deadline): the user aggregator then knows
 * a final is still coming at the turn's stop, as a streaming STT's interim tells it.
 * A concrete service implements only `transcribe`. Requests run side by side, each
 * bounded by `requestTimeoutMs`; at the task's end the speech in progress is sent and the answers
 * awaited (bounded by `closeTimeoutMs`); cancel aborts them. Usage = seconds of audio sent in
 * requests. See docs/design/stt-services.md.
 */
export abstract class SegmentedSTTService extends STTService {
  readonly #prerollSamples: (rate: number) => number;
  readonly #maxSegmentSamples: (rate: number) => number;
  readonly #requestTimeoutMs: number;
  readonly #buffer = new SampleList();
  #inSegment = false;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  /** Requests sent and answered since the start: the totals the pending frames carry. */
  #requested = 0;
  #settled = 0;

  constructor(options: SegmentedSTTServiceOptions = {}) {
    super(options);
    const preroll = ms(this.name, "prerollMs", options.prerollMs, 500, true);
    const max = ms(this.name, "maxSegmentMs", options.maxSegmentMs, 30_000, false);
    this.#requestTimeoutMs = ms(this.name, "requestTimeoutMs", options.requestTimeoutMs, 10_000, false);
    this.#prerollSamples = (rate) => Math.round((rate * preroll) / 1000);
    this.#maxSegmentSamples = (rate) => Math.max(1, Math.round((rate * max) / 1000));
  }

  /**
   * Transcribes one segment of mono PCM16 at `info.sampleRate`: the text (or a full result), or
   * undefined for nothing heard. Honour `info.signal`. A throw is reported once per message, counted.
   */
  protected abstract transcribe(
    audio: Int16Array,
    info: SegmentInfo,
  ): Promise<TranscriptResult | string | undefined>;

  /** Requests waiting for an answer. */
  get requestsInFlight(): number {
    return this.#inFlight.size;
  }

  protected override get billsSentAudio(): boolean {
    return false;
  }

  protected override async connect(): Promise<void> {}

  protected override sendAudio(audio: Int16Array): boolean {
    this.#buffer.append(audio);
    if (!this.#inSegment) {
      this.#buffer.keepLast(this.#prerollSamples(this.sampleRate));
    } else if (this.#buffer.length >= this.#maxSegmentSamples(this.sampleRate)) {
      this.#send(); // a long monologue goes in pieces; the segment goes on
    }
    return true;
  }

  protected override speechStarted(): void {
    this.#inSegment = true;
  }

  protected override finalize(): boolean {
    if (!this.#inSegment) return false;
    this.#inSegment = false;
    return this.#send();
  }

  protected override async disconnect({ graceful, timeoutMs }: STTDisconnectInfo): Promise<void> {
    if (graceful && this.#inSegment) this.finalize();
    if (!graceful) this.#stop.abort(new CancelledError(this.name, "the task was cancelled"));
    if (this.#inFlight.size > 0) {
      const all = Promise.allSettled([...this.#inFlight]).then(() => undefined);
      await deadline(this.clock, all, timeoutMs, `${this.name}: the last transcription requests`).catch(
        (error: unknown) => {
          this.#stop.abort(new CancelledError(this.name, "the end's wait ran out"));
          this.logger.warn(`${this.name}: ${describe(error)}; their transcripts are lost`, {
            processor: this.name,
          });
        },
      );
    }
    this.#buffer.keepLast(0);
  }

  /** Sends what the buffer holds as one request; false when it holds nothing. */
  #send(): boolean {
    const samples = this.#buffer.length;
    if (samples === 0) return false;
    const audio = this.#buffer.take(samples);
    const rate = this.sampleRate;
    this.addUsage((samples * 1000) / rate);
    this.#requested++;
    void this.pushFrame(new TranscriptionPendingFrame(this.id, this.name, this.#requested, this.#settled));
    const request = deadline(
      this.clock,
      (signal) =>
        this.transcribe(audio, { sampleRate: rate, signal: AbortSignal.any([signal, this.#stop.signal]) }),
      this.#requestTimeoutMs,
      `${this.name}: a transcription request`,
      { io: true, signal: this.#stop.signal },
    ).then(
      (answer) => {
        const result = typeof answer === "string" ? { text: answer, isFinal: true } : answer;
        this.handleTranscript({ text: "", ...result, isFinal: true, fromFinalize: true });
        this.#settle();
      },
      (error: unknown) => {
        if (this.#stop.signal.aborted) return; // cancelled: the task is ending and nobody waits
        this.reportProblem(
          `request:${errorKind(error)}`,
          () => `${this.name}: transcription failed: ${describe(error)}`,
        );
        this.handleTranscript({ text: "", isFinal: true, fromFinalize: true });
        this.#settle();
      },
    );
    const tracked = request.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    return true;
  }

  /** One request was answered: said after its transcript (same lane), so "done" never overtakes the words. */
  #settle(): void {
    this.#settled++;
    void this.pushFrame(new TranscriptionSettledFrame(this.id, this.name, this.#requested, this.#settled));
  }
}

function ms(
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

/** A short stable key for an error, so varied messages of one kind are counted together. */
function errorKind(error: unknown): string {
  if (error instanceof Error) return (error as { code?: unknown }).code?.toString() ?? error.name;
  return typeof error;
}
