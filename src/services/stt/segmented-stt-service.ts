import { SampleList } from "../../audio/sample-list.js";
import { deadline } from "../../clock/deadline.js";
import { CancelledError, describe } from "../../errors.js";
import { TranscriptionPendingFrame, TranscriptionSettledFrame } from "../../frames/transcribing.js";
import { type STTDisconnectInfo, STTService } from "./stt-service.js";
import {
  type STTServiceOptions,
  type TranscriptResult,
  nonNegativeMs,
  positiveMs,
  wholeCount,
} from "./stt-service-options.js";

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
  /**
   * Requests running at once; later segments wait in a queue (in the order spoken). Bounds the
   * sockets or processes (PocketSphinx: one recogniser each) a burst of segments can start. @default 4
   */
  maxConcurrentRequests?: number;
  /**
   * Segments waiting for a free request. Past this, or past `maxQueuedMs` of waiting audio, the
   * oldest waiting segment is refused (said once, counted, settled). @default 100
   */
  maxQueuedRequests?: number;
  /** Audio waiting for a free request, in ms: bounds the queue's memory. @default 60000 */
  maxQueuedMs?: number;
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
 * A concrete service implements only `transcribe`. At most `maxConcurrentRequests` run side by
 * side, each bounded by `requestTimeoutMs`, the rest wait in a bounded queue; transcripts are
 * pushed in the order the segments were spoken. At the task's end the speech in progress is sent
 * and the answers awaited (bounded by `closeTimeoutMs`; what is still out then is abandoned and
 * settled); cancel aborts them and settles nothing. Usage = seconds of audio sent in
 * requests. See docs/design/stt-services.md.
 */
export abstract class SegmentedSTTService extends STTService {
  readonly #prerollSamples: (rate: number) => number;
  readonly #maxSegmentSamples: (rate: number) => number;
  readonly #requestTimeoutMs: number;
  readonly #buffer = new SampleList();
  #inSegment = false;
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  readonly #maxQueuedMs: number;
  readonly #inFlight = new Set<Promise<void>>();
  /** Segments not yet pushed, in the order spoken: a later answer waits here for the earlier ones. */
  #order: Segment[] = [];
  /** Segments waiting for a free request, oldest first. */
  #waiting: Segment[] = [];
  #waitingMs = 0;
  #refused = 0;
  readonly #stop = new AbortController();
  /** Set at cancel: answers are dropped and nothing is settled (the aggregator forgets it all). */
  #cancelled = false;
  /** Requests sent and answered since the start: the totals the pending frames carry. */
  #requested = 0;
  #settled = 0;

  constructor(options: SegmentedSTTServiceOptions = {}) {
    super(options);
    const preroll = nonNegativeMs(this.name, "prerollMs", options.prerollMs, 500);
    const max = positiveMs(this.name, "maxSegmentMs", options.maxSegmentMs, 30_000);
    this.#requestTimeoutMs = positiveMs(this.name, "requestTimeoutMs", options.requestTimeoutMs, 10_000);
    this.#maxConcurrent = wholeCount(this.name, "maxConcurrentRequests", options.maxConcurrentRequests, 4, 1);
    this.#maxQueued = wholeCount(this.name, "maxQueuedRequests", options.maxQueuedRequests, 100, 0);
    this.#maxQueuedMs = nonNegativeMs(this.name, "maxQueuedMs", options.maxQueuedMs, 60_000);
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

  /** Segments waiting for a free request. */
  get requestsQueued(): number {
    return this.#waiting.length;
  }

  /** Segments refused because the queue was full (each said once per run of them, settled). */
  get segmentsRefused(): number {
    return this.#refused;
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
    if (!graceful) {
      this.#cancelled = true;
      this.#waiting = [];
      this.#order = [];
      this.#stop.abort(new CancelledError(this.name, "the task was cancelled"));
    }
    if (this.#inFlight.size > 0) {
      // Queued segments start as requests end, so wait until nothing is left, not for a snapshot.
      const drained = (async () => {
        while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
      })();
      await deadline(this.clock, drained, timeoutMs, `${this.name}: the last transcription requests`).catch(
        async (error: unknown) => {
          this.logger.warn(`${this.name}: ${describe(error)}; their transcripts are lost`, {
            processor: this.name,
          });
          if (this.#cancelled) {
            this.#stop.abort(new CancelledError(this.name, "the end's wait ran out"));
            return;
          }
          // Every pending frame is settled at the end (only cancel is exempt): abandon what waits,
          // abort what runs, and wait for the aborts to land (they reject at once on the signal).
          for (const segment of this.#waiting.splice(0)) this.#answered(segment, undefined);
          this.#waitingMs = 0;
          this.#stop.abort(new CancelledError(this.name, "the end's wait ran out"));
          await Promise.allSettled([...this.#inFlight]);
        },
      );
    }
    this.#buffer.keepLast(0);
  }

  /** Sends what the buffer holds as one request (or queues it); false when it holds nothing. */
  #send(): boolean {
    const samples = this.#buffer.length;
    if (samples === 0) return false;
    const rate = this.sampleRate;
    const segment: Segment = { audio: this.#buffer.take(samples), rate, ms: (samples * 1000) / rate };
    this.#requested++;
    void this.pushFrame(new TranscriptionPendingFrame(this.id, this.name, this.#requested, this.#settled));
    this.#order.push(segment);
    this.#waiting.push(segment);
    this.#waitingMs += segment.ms;
    this.#pump();
    // Past the queue's bound the oldest waiting segment is refused, not the newest: the newest is
    // what the user is saying now, the one the agent must answer; the oldest would have waited
    // longest and is the stalest (its words would reach the conversation last and late anyway).
    while (
      this.#waiting.length > 0 &&
      (this.#waiting.length > this.#maxQueued || this.#waitingMs > this.#maxQueuedMs)
    ) {
      const oldest = this.#waiting.shift()!;
      this.#waitingMs -= oldest.ms;
      this.#refused++;
      this.reportProblem(
        "queue-full",
        () =>
          `${this.name}: more speech than the service keeps up with (maxConcurrentRequests ` +
          `${this.#maxConcurrent}, maxQueuedRequests ${this.#maxQueued}, maxQueuedMs ${this.#maxQueuedMs}); ` +
          "the oldest waiting segment is not transcribed (counted in segmentsRefused)",
      );
      this.#answered(oldest, undefined);
    }
    return true;
  }

  /** Starts waiting segments while a request is free. */
  #pump(): void {
    while (this.#inFlight.size < this.#maxConcurrent && this.#waiting.length > 0) {
      const segment = this.#waiting.shift()!;
      this.#waitingMs -= segment.ms;
      this.#start(segment);
    }
  }

  #start(segment: Segment): void {
    const { audio, rate } = segment;
    segment.audio = undefined;
    this.addUsage(segment.ms);
    const request = deadline(
      this.clock,
      (signal) =>
        this.transcribe(audio!, { sampleRate: rate, signal: AbortSignal.any([signal, this.#stop.signal]) }),
      this.#requestTimeoutMs,
      `${this.name}: a transcription request`,
      { io: true, signal: this.#stop.signal },
    ).then(
      (answer) => (typeof answer === "string" ? { text: answer, isFinal: true } : answer),
      (error: unknown) => {
        // Cancelled: nobody waits. Abandoned at the end: the end's warning said it.
        if (!this.#stop.signal.aborted) {
          this.reportProblem(
            `request:${errorKind(error)}`,
            () => `${this.name}: transcription failed: ${describe(error)}`,
          );
        }
        return undefined;
      },
    );
    const tracked: Promise<void> = request.then((result) => {
      this.#inFlight.delete(tracked);
      if (this.#cancelled) return;
      this.#answered(segment, result);
      this.#pump();
    });
    this.#inFlight.add(tracked);
  }

  /**
   * A segment was answered (or refused, or abandoned). Its transcript and settled frame wait for
   * the segments spoken before it, so transcripts go out in the order spoken and each is followed
   * at once by its settled frame; the wait is bounded by the earlier segments' own deadlines.
   */
  #answered(segment: Segment, result: TranscriptResult | undefined): void {
    segment.audio = undefined; // a segment held for order keeps no audio
    segment.result = { text: "", ...result, isFinal: true, fromFinalize: true };
    while (this.#order[0]?.result !== undefined) {
      this.handleTranscript(this.#order.shift()!.result!);
      this.#settle();
    }
  }

  /** One request was answered: said after its transcript (same lane), so "done" never overtakes the words. */
  #settle(): void {
    this.#settled++;
    void this.pushFrame(new TranscriptionSettledFrame(this.id, this.name, this.#requested, this.#settled));
  }
}

/** One segment of speech, from its stop to its transcript. */
interface Segment {
  /** Released once sent or refused. */
  audio: Int16Array | undefined;
  readonly rate: number;
  readonly ms: number;
  /** The answer, once there is one (an empty final for nothing, a failure, a refusal). */
  result?: TranscriptResult;
}

/** A short stable key for an error, so varied messages of one kind are counted together. */
function errorKind(error: unknown): string {
  if (error instanceof Error) return (error as { code?: unknown }).code?.toString() ?? error.name;
  return typeof error;
}
