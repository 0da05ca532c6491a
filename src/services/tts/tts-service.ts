import { untilAborted, whenAborted } from "../../clock/when-aborted.js";
import {
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  createStreamResampler,
  type StreamResampler,
} from "../../audio/resampler.js";
import { deadline } from "../../clock/deadline.js";
import { InterruptedError, InvalidOptionError, describe } from "../../errors.js";
import { TTSAudioRawFrame } from "../../frames/audio.js";
import type { Frame, FrameDirection } from "../../frames/frame.js";
import type { CancelFrame, EndFrame, StartFrame } from "../../frames/lifecycle.js";
import {
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMPreemptiveTextFrame,
} from "../../frames/llm.js";
import { MetricsFrame } from "../../frames/metrics.js";
import { LLMTextFrame, TTSSpeakFrame, TTSTextFrame } from "../../frames/text.js";
import { TTSStartedFrame, TTSStoppedFrame } from "../../frames/tts.js";
import {
  FrameProcessor,
  type FrameProcessorEvents,
  type FrameProcessorOptions,
} from "../../processors/frame-processor.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { markdownToSpeakable } from "./markdown-to-speakable.js";
import { SentenceAggregator } from "./sentence-aggregator.js";
import type { TextToSpeakable, TextToSpeakableFactory } from "./text-to-speakable.js";
import { ProviderSocketError } from "../websocket/provider-socket-error.js";
import {
  TTSBinaryNotFoundError,
  TTSConnectionWaitError,
  TTSModelNotFoundError,
  TTSTimeoutError,
} from "./tts-errors.js";
import { EngineReads } from "./engine-reads.js";
import { HeldSpeech } from "./held-speech.js";
import { PieceStall, type StallPhase } from "./piece-stall.js";
import { MissingTTSApiKeyError } from "./tts-provider-errors.js";
import { previewText } from "./text-preview.js";

/** A word the engine says, timed from the start of the audio of the text it was given. */
export interface WordTimestamp {
  /** The word as written. */
  readonly text: string;
  /** When the word starts, in ms from the start of this synthesis's audio. */
  readonly startMs: number;
}

/** Word timings an engine reports along with its audio (engines that have none never yield one). */
export interface WordTimestamps {
  readonly words: readonly WordTimestamp[];
}

/**
 * What {@link TTSService.synthesize} yields: PCM16 mono audio at {@link TTSService.engineSampleRate}
 * (any chunk size, empty chunks allowed), or word timings.
 */
export type SynthesisOutput = Int16Array | WordTimestamps;

/** Which response a piece belongs to (the third argument of {@link TTSService.synthesize}). */
export interface SynthesisRequest {
  /** The response's audio context id: the same for every piece of one response, new for the next. */
  readonly contextId: string;
  /** The piece's place in its response: 0 for the first, then 1, 2, … */
  readonly index: number;
  /**
   * Waits for `opened`: the provider's connection reopening (a socket reconnecting after a drop),
   * before the piece is sent. Call it for that wait and nothing else. The wait has its own bound,
   * `stallTimeoutMs` from its start; past it the piece is abandoned with a
   * `TTSConnectionWaitError` that says the connection was down (not that the engine gave no
   * audio). The engine's stall bound starts again when it ends, so a sentence that waited through
   * a reconnect gets the whole bound for its audio (docs/design/tts-services.md, "Stalls and
   * reconnects"). Rejects as `opened` does, or with the abort reason.
   */
  readonly waitForConnection: (opened: Promise<void>) => Promise<void>;
  /**
   * Waits for `until`: the provider's own rate limit (Deepgram's limit on `Flush` messages), before
   * the piece is sent. Not a stall: the wait is not counted against `stallTimeoutMs` (the limit
   * says how long it is) nor marked as real I/O (it is a timer of the clock); the engine's stall
   * bound starts when it ends, and `synthesisTimeoutMs` still bounds the whole piece. Rejects as
   * `until` does.
   */
  readonly waitForRateLimit: (until: Promise<void>) => Promise<void>;
}

/** Why {@link TTSService.endContext} is called. */
export type ContextEnd =
  /** The response's last piece was synthesised: no more text comes for it. */
  | "finished"
  /** An interruption or a cancel ended the response: whatever is still coming for it is stale. */
  | "interrupted";

/** Options of every {@link TTSService}. */
export interface TTSServiceOptions extends FrameProcessorOptions {
  /**
   * Sample rate of the audio frames the service pushes, in Hz. Engine audio at another rate is
   * resampled. @default the task's `audioOutSampleRate` (from `StartFrame`, 24000 unless set)
   */
  sampleRate?: number;
  /**
   * Makes the text-to-speakable step for each response (docs/design/tts-text.md).
   * @default markdownToSpeakable (markdown removed)
   */
  textToSpeakable?: TextToSpeakableFactory;
  /** Longest piece of text sent to the engine at once, in characters (`SentenceAggregator.maxChars`). @default 250 */
  maxSentenceChars?: number;
  /**
   * Longest wait without progress, in ms: for the engine's next output (the first audio of a
   * piece included, counted from when the request went out), and, for a provider reached over a
   * socket, for the connection to reopen when a piece finds it reconnecting (a wait of its own,
   * reported as such). Past it the piece is abandoned (a subprocess is killed) and reported.
   * @default 5000
   */
  stallTimeoutMs?: number;
  /** Longest time one piece (at most `maxSentenceChars`) may take to synthesise, in ms. @default 30000 */
  synthesisTimeoutMs?: number;
  /** Longest wait for the engine to connect (or check it can run) at start, in ms. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Longest wait for an abandoned synthesis to let go of what it holds (a killed subprocess to be
   * reaped), in ms, at interruption, cancel and end. @default 1000
   */
  releaseTimeoutMs?: number;
  /**
   * Synthesise the first sentence of an answer the LLM holds for a turn not confirmed yet
   * (`LLMPreemptiveTextFrame`, from preemptive generation) and hold its audio until the confirmed
   * answer starts with the same sentence (docs/design/tts-services.md, "Preemptive speech"). Only
   * acts when such frames come; a guess not used costs its characters. @default true
   */
  preemptiveSpeech?: boolean;
}

/** Events of a {@link TTSService} (those of every processor, so far). */
export type TTSServiceEvents = FrameProcessorEvents;

/** The `kind` of the metric that counts the characters sent to the engine (RTVI `characters`). */
export const TTS_USAGE_METRIC = "tts_usage";

/** One response being spoken: an audio context, its id on every frame it produces. */
interface AudioContext {
  /** Fixed once its first piece is synthesised (a claimed {@link HeldSpeech} gives its own). */
  contextId: string;
  readonly toSpeakable: TextToSpeakable;
  /** TTSStartedFrame pushed (the first piece with something to say). */
  started: boolean;
  /** TTFB reported (once per response: the first piece's text → its first audio). */
  measured: boolean;
  /** Clock time of the first audio frame pushed, in ms (anchor of word `pts`). */
  audioStartMs: number | undefined;
  /** Audio pushed so far, in ms. */
  audioMs: number;
  /** Pieces handed to the engine so far (the next piece's {@link SynthesisRequest.index}). */
  pieces: number;
}

/** The answer whose text is coming in `LLMPreemptiveTextFrame`s, until its first sentence is known. */
interface Guess {
  readonly answerId: number;
  readonly sentences: SentenceAggregator;
  readonly toSpeakable: TextToSpeakable;
  /** Its first sentence was found (and synthesised ahead, if it could be): the rest is ignored. */
  settled: boolean;
}

/**
 * The share of `releaseTimeoutMs` a {@link TTSService.disconnect} may spend waiting for the
 * provider's close; the rest is left for destroying the connection when that wait runs out.
 */
const DISCONNECT_WAIT_SHARE = 0.8;

const DEFAULTS = {
  stallTimeoutMs: 5_000,
  synthesisTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  releaseTimeoutMs: 1_000,
} as const;

/**
 * The base of every text-to-speech service (docs/design/tts-services.md). It owns the lifecycle,
 * the text steps, the frames and the metrics; a concrete service implements a few verbs:
 * {@link synthesize} (text → audio chunks, honouring an `AbortSignal`), {@link engineSampleRate},
 * and optionally {@link connect} / {@link disconnect} and {@link model}. A subclass never overrides
 * the lifecycle hooks or `processFrame`.
 *
 * Frames in: `LLMFullResponseStartFrame` opens a response; `LLMTextFrame`s are aggregated into
 * sentences (`SentenceAggregator`) and each sentence is made speakable (`textToSpeakable`) and
 * synthesised as soon as it is complete; `LLMFullResponseEndFrame` flushes the rest and closes the
 * response; `TTSSpeakFrame` is spoken at once as a response of its own. `LLMTextFrame` and
 * `TTSSpeakFrame` are consumed; every other frame is passed on, in order behind the audio of the
 * text that came before it.
 *
 * Frames out, per response (one audio context, `contextId` on each): `TTSStartedFrame`, then per
 * sentence its `TTSAudioRawFrame`s (at {@link sampleRate}) followed by its `TTSTextFrame` (the
 * sentence as written, without `pts`: the output transport releases it when the audio before it
 * has played, so an interrupted sentence is never reported as spoken), or, from an engine with word
 * timings, one `TTSTextFrame` per word with `pts`; then `TTSStoppedFrame`. A sentence with nothing to
 * say (a code block) produces only its `TTSTextFrame`, with `metadata.spoken = false`.
 *
 * Interruption: the aggregator drops held text, the synthesis in flight is aborted at once (its
 * signal fires; a subprocess is killed) and nothing it produced later is pushed. The interrupted
 * response gets no `TTSStoppedFrame`: the `InterruptionFrame` ends it downstream. Text held at
 * `EndFrame` is spoken (end drains), and a barge-in on that goodbye cuts it the same way.
 *
 * Metrics (`MetricsFrame`, pushed downstream): `ttfb` once per response (text sent → first audio,
 * ms) and {@link TTS_USAGE_METRIC} per piece (characters sent).
 *
 * Bounds: held text ≤ `maxSentenceChars`; each engine chunk is pushed as it comes (nothing is
 * accumulated per response); every wait on the engine has a deadline.
 */
export abstract class TTSService<E extends TTSServiceEvents = TTSServiceEvents> extends FrameProcessor<E> {
  readonly #options: Required<Omit<TTSServiceOptions, keyof FrameProcessorOptions | "sampleRate">> & {
    sampleRate: number | undefined;
  };
  readonly #sentences: SentenceAggregator;
  #sampleRate = 0;
  #resampler: StreamResampler | undefined;
  #response: AudioContext | undefined;
  #contexts = 0;
  /** The piece being synthesised, settled once its engine has let go (awaited by end/cancel). */
  #inFlight: Promise<unknown> | undefined;
  /** A permanent failure (the engine cannot run): nothing more is synthesised. */
  #failure: Error | undefined;
  #repeats: RepeatReporter | undefined;
  #disconnected = false;
  /** The end's drain of held text, while it runs: a barge-in on it aborts this (see {@link end}). */
  #drain: AbortController | undefined;
  /** Contexts with a piece sent to the engine and no {@link endContext} yet (at most two: a response and a TTSSpeakFrame). */
  readonly #openContexts = new Set<AudioContext>();
  /** The held answer whose text is coming (preemptive speech). */
  #guess: Guess | undefined;
  /** Its first sentence, synthesised ahead and held until claimed or discarded. */
  #held: HeldSpeech | undefined;
  /** Held speech discarded and still letting go: the engine is not asked for more until it has. */
  #heldLettingGo: Promise<void> | undefined;

  constructor(options: TTSServiceOptions = {}) {
    super(options);
    const sampleRate = options.sampleRate;
    if (
      sampleRate !== undefined &&
      (!Number.isInteger(sampleRate) || sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE)
    ) {
      throw new InvalidOptionError(
        `${this.name}: sampleRate must be an integer number of Hz from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} (got ${String(sampleRate)}); ` +
          "leave it out to use the task's audioOutSampleRate",
      );
    }
    for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const value = options[key];
      if (value !== undefined && (!Number.isFinite(value) || value <= 0)) {
        throw new InvalidOptionError(
          `${this.name}: ${key} must be a positive number of ms (got ${String(value)}); the default is ${DEFAULTS[key]}`,
        );
      }
    }
    const preemptiveSpeech: unknown = options.preemptiveSpeech;
    if (preemptiveSpeech !== undefined && typeof preemptiveSpeech !== "boolean") {
      // A string such as "false" would otherwise turn it on.
      throw new InvalidOptionError(
        `${this.name}: preemptiveSpeech must be true or false (got ${describe(preemptiveSpeech)}); leave it out for true`,
      );
    }
    this.#options = {
      sampleRate,
      textToSpeakable: options.textToSpeakable ?? markdownToSpeakable,
      maxSentenceChars: options.maxSentenceChars ?? 250,
      stallTimeoutMs: options.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
      synthesisTimeoutMs: options.synthesisTimeoutMs ?? DEFAULTS.synthesisTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      releaseTimeoutMs: options.releaseTimeoutMs ?? DEFAULTS.releaseTimeoutMs,
      preemptiveSpeech: options.preemptiveSpeech ?? true,
    };
    this.#sentences = new SentenceAggregator({ maxChars: this.#options.maxSentenceChars });
  }

  // ---------------------------------------------------------------- verbs for subclasses

  /**
   * Synthesises `text` (one sentence, already speakable, at most `maxSentenceChars`): yields
   * PCM16 mono chunks at {@link engineSampleRate} as they are made, and word timings if the
   * engine has them. When `signal` aborts (interruption, cancel, a deadline) it must stop at once
   * and release what it holds (kill its subprocess, cancel the provider's context) in `finally`.
   * Throw to report a failure; the base reports it (once, then counted) and goes on with the next
   * sentence, unless it is permanent (`TTSBinaryNotFoundError`, `TTSModelNotFoundError`,
   * `MissingTTSApiKeyError`, `ProviderSocketError`).
   *
   * `request` says which response the piece belongs to: pieces of one response come one after
   * another with the same `contextId` (a websocket service sends them on one provider context,
   * so the voice keeps its prosody), and {@link endContext} says when the response is over. An
   * engine that speaks each piece on its own ignores it.
   */
  protected abstract synthesize(
    text: string,
    signal: AbortSignal,
    request: SynthesisRequest,
  ): AsyncIterable<SynthesisOutput>;

  /** Sample rate of what {@link synthesize} yields, in Hz; read after {@link connect}. */
  protected abstract get engineSampleRate(): number;

  /**
   * Gets ready to synthesise (open a connection, check the program and its voice exist), once,
   * at start, within `connectTimeoutMs`. A throw here is reported as fatal: the service cannot
   * speak at all. @default does nothing
   */
  protected connect(_signal: AbortSignal): void | Promise<void> {}

  /**
   * Releases what {@link connect} opened; called once, at end, cancel or teardown, within
   * `releaseTimeoutMs`. `how` is `"cancel"` when the task is stopping now (close the provider's
   * socket with a short wait) and `"end"` otherwise. `waitMs` is the longest a close may wait for
   * the provider before it destroys the connection: a part of `releaseTimeoutMs`, the rest left for
   * the destroy, so the connection is gone before the base stops waiting (a socket still open when
   * the task has finished is a leak). @default does nothing
   */
  protected disconnect(_how: "end" | "cancel", _waitMs: number): void | Promise<void> {}

  /**
   * The response `contextId` is over: `"finished"` after its last piece (finish the provider's
   * context), `"interrupted"` when an interruption or a cancel ended it (cancel the provider's
   * context; audio still arriving for it must be dropped). Called once per response that had a
   * piece synthesised; on an interruption the piece in flight may still be stopping (its signal
   * has fired), so both may cancel the same provider context: make it idempotent. Must not throw
   * or wait. @default does nothing
   */
  protected endContext(_contextId: string, _reason: ContextEnd): void {}

  /**
   * The engine cannot work any more (a rejected key, a provider that gave up): the service
   * stops synthesising (`usable` turns false) and says so once, as a fatal error. For failures
   * noticed outside {@link synthesize} (a socket's give-up); a throw from `synthesize` does the same
   * for permanent errors.
   */
  protected fail(error: Error): Promise<void> {
    return this.#fail(error, true);
  }

  /** The model or voice named in metrics. @default undefined */
  protected get model(): string | undefined {
    return undefined;
  }

  // ---------------------------------------------------------------- public state

  /**
   * First sentences synthesised ahead (preemptive speech) and used: the confirmed answer began
   * with the same sentence, so its audio was already there.
   */
  preemptiveSpeechUsed = 0;
  /**
   * First sentences synthesised ahead and dropped, over the session: the answer began otherwise, an
   * interruption, a newer guess, its engine failing, or nobody claiming it in time. Each cost its
   * characters.
   */
  preemptiveSpeechDiscarded = 0;

  /** Sample rate of the audio frames pushed, in Hz (known once started; 0 before). */
  get sampleRate(): number {
    return this.#sampleRate;
  }

  /** Whether the service can still speak (no permanent failure such as a missing program). */
  get usable(): boolean {
    return this.#failure === undefined;
  }

  /** The stall bound of each piece, in ms (`stallTimeoutMs`, or its default). */
  protected get stallTimeoutMs(): number {
    return this.#options.stallTimeoutMs;
  }

  /** Characters of text held, waiting for the end of their sentence (≤ `maxSentenceChars`). */
  get pendingChars(): number {
    return this.#sentences.pendingChars;
  }

  // ---------------------------------------------------------------- lifecycle (owned here)

  protected override async start(frame: StartFrame): Promise<void> {
    this.#sampleRate = this.#options.sampleRate ?? frame.params.audioOutSampleRate;
    let connecting: Promise<void> | undefined;
    try {
      await deadline(
        this.clock,
        (signal) => (this.#inFlight = connecting = Promise.resolve(this.connect(signal))),
        this.#options.connectTimeoutMs,
        `${this.name}: connecting to the TTS engine`,
        { signal: this.lifeSignal, io: true },
      );
      this.#resampler = await this.clock.track(
        createStreamResampler({ inRate: this.engineSampleRate, outRate: this.#sampleRate }),
      );
      if (this.#inFlight === connecting) this.#inFlight = undefined; // connected: nothing in flight
    } catch (error) {
      // The deadline (or cancel) told connect() to stop: let it release what it opened first.
      if (connecting) await this.#settle(connecting, "waiting for the TTS engine's start-up check to stop");
      if (this.lifeSignal.aborted) return;
      this.#failure = asError(error);
      await this.pushError(this.#failure, { fatal: true });
    }
  }

  protected override async end(_frame: EndFrame): Promise<void> {
    // Text still held (a response that never got its end frame) is spoken: end drains.
    const response = this.#response;
    if (response) {
      // The EndFrame is uninterruptible, so a barge-in on this goodbye does not end the lane's
      // turn; the drain has a signal of its own, which onInterruption aborts: the goodbye is cut
      // like any answer (its context cancelled, nothing of it pushed later, no TTSStoppedFrame),
      // and the end goes on. Without it the context was cancelled under a piece still reading it:
      // its late audio was played and the end waited stallTimeoutMs for audio that never came.
      const drain = new AbortController();
      const life = this.lifeSignal;
      const stopFollowingLife = whenAborted(life, () => drain.abort(life.reason));
      this.#drain = drain;
      try {
        await this.#speakPiece(this.#sentences.flush(), response, drain.signal);
        if (!drain.signal.aborted) await this.#closeResponse(response);
      } finally {
        stopFollowingLife();
        this.#drain = undefined;
      }
    }
    await this.#release();
  }

  protected override async cancel(_frame: CancelFrame): Promise<void> {
    this.#discardHeld("the pipeline was cancelled");
    this.#endOpenContexts("interrupted");
    await this.#release("cancel");
  }

  protected override async cleanup(): Promise<void> {
    await this.#release();
    this.#resampler?.dispose();
  }

  protected override onInterruption(): void {
    this.#drain?.abort(new InterruptedError(this.name)); // a barge-in on the end's goodbye (see end)
    this.#discardHeld("an interruption");
    this.#guess = undefined;
    this.#endOpenContexts("interrupted");
    this.#sentences.reset();
    this.#response = undefined; // the next text opens a fresh context and text-to-speakable
  }

  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    const turn = signal ?? this.lifeSignal;
    if (frame instanceof LLMPreemptiveTextFrame) return this.#hearGuess(frame); // consumed
    if (frame instanceof LLMTextFrame) {
      const response = (this.#response ??= this.#newContext());
      for (const piece of this.#sentences.push(frame.text)) {
        if (turn.aborted) return;
        await this.#speakPiece(piece, response, turn);
      }
      return;
    }
    if (frame instanceof LLMFullResponseStartFrame) {
      const previous = this.#response;
      if (previous) {
        // The previous response never got its end frame: finish it first.
        await this.#speakPiece(this.#sentences.flush(), previous, turn);
        // Interrupted meanwhile: the interruption ended `previous`, and the next turn may already
        // have opened its own response; this stale handler must not close it.
        if (turn.aborted) return;
        await this.#closeResponse(previous);
        if (turn.aborted) return;
      }
      this.#response = this.#newContext();
      return this.pushFrame(frame, direction);
    }
    if (frame instanceof LLMFullResponseEndFrame) {
      const response = this.#response;
      if (response) {
        await this.#speakPiece(this.#sentences.flush(), response, turn);
        if (turn.aborted) return;
        await this.#closeResponse(response);
      }
      return this.pushFrame(frame, direction);
    }
    if (frame instanceof TTSSpeakFrame) {
      // Its own response, cut at the same bound; text held for an LLM response stays held.
      const context = this.#newContext();
      const sentences = new SentenceAggregator({ maxChars: this.#options.maxSentenceChars });
      for (const piece of [...sentences.push(frame.text), sentences.flush()]) {
        if (turn.aborted) return;
        await this.#speakPiece(piece, context, turn);
      }
      if (turn.aborted) return;
      this.#endContext(context, "finished");
      if (context.started) await this.pushFrame(new TTSStoppedFrame(context.contextId));
      return;
    }
    return super.processFrame(frame, direction);
  }

  // ---------------------------------------------------------------- internals

  #newContext(): AudioContext {
    return {
      contextId: `${this.name}/${++this.#contexts}`,
      toSpeakable: this.#options.textToSpeakable(),
      started: false,
      measured: false,
      audioStartMs: undefined,
      audioMs: 0,
      pieces: 0,
    };
  }

  /**
   * Finishes `response` (its context ended, its TTSStoppedFrame pushed). It is the handler's own
   * response, captured before it awaited: `#response` may be another one by now (a new turn's,
   * after an interruption), and is only forgotten if it is still this one.
   */
  async #closeResponse(response: AudioContext): Promise<void> {
    if (this.#response === response) this.#response = undefined;
    this.#endContext(response, "finished");
    if (response.started) await this.pushFrame(new TTSStoppedFrame(response.contextId));
  }

  /** Speaks one piece (a sentence as written) of `context`. */
  async #speakPiece(piece: string, context: AudioContext, signal: AbortSignal): Promise<void> {
    if (piece === "" || signal.aborted) return;
    const speakable = context.toSpeakable(piece);
    if (speakable.trim() === "") {
      const text = new TTSTextFrame(piece);
      text.metadata.spoken = false;
      return this.pushFrame(text);
    }
    if (this.#failure) {
      this.#countFailure(this.#failure);
      return;
    }
    // Held speech that matches is taken over now, under the turn's signal: a barge-in from here on
    // stops its engine like any piece's (the started frame below is awaited, and one may land there).
    const held = await this.#takeHeld(speakable, context, signal);
    if (held) context.contextId = held.contextId; // the response goes on in the provider context it began
    if (!context.started) {
      context.started = true;
      await this.pushFrame(new TTSStartedFrame(context.contextId));
    }
    if (!held) await this.#metric(TTS_USAGE_METRIC, speakable.length); // a held piece's was counted when sent
    const work = this.#synthesizePiece(speakable, context, signal, held?.claimed);
    this.#inFlight = work;
    const outcome = await work;
    if (this.#inFlight === work) this.#inFlight = undefined;
    if (outcome.completed && !outcome.timed && !signal.aborted) await this.pushFrame(new TTSTextFrame(piece));
  }

  /**
   * Runs the engine on one piece and pushes its audio (and word texts) as it comes. Resolves
   * (never rejects) once the engine has let go, or `releaseTimeoutMs` after it was told to.
   */
  async #synthesizePiece(
    text: string,
    context: AudioContext,
    outer: AbortSignal,
    claimed?: AsyncIterator<SynthesisOutput>,
  ): Promise<{ completed: boolean; timed: boolean }> {
    // Interrupted on the way: the engine is not asked (a claimed piece's engine is let go below).
    if (outer.aborted && !claimed) return { completed: false, timed: false };
    const options = this.#options;
    const control = new AbortController();
    const stall = new PieceStall(this.clock, options.stallTimeoutMs, (phase) =>
      control.abort(this.#stallError(phase, text, stall.connectionWaitedMs)),
    );
    const request: SynthesisRequest = {
      contextId: context.contextId,
      index: context.pieces++,
      // Both end when the piece is abandoned (stalled, timed out, interrupted): a promise that
      // never settles must not hold `synthesize` inside the base's own helper.
      waitForConnection: (opened) => stall.connection(untilAborted(opened, control.signal)),
      waitForRateLimit: (until) => stall.aside(untilAborted(until, control.signal)),
    };
    this.#openContexts.add(context);
    const stopWaitingForOuter = whenAborted(outer, () => control.abort(outer.reason));
    const overall = this.clock.setTimer(() => {
      const waited = Math.round(stall.connectionWaitedMs);
      control.abort(
        new TTSTimeoutError(
          "synthesisTimeoutMs",
          options.synthesisTimeoutMs,
          `${this.name}: synthesising "${previewText(text)}" took over ${options.synthesisTimeoutMs} ms (synthesisTimeoutMs)` +
            `${waited > 0 ? `, ${waited} ms of it waiting for the connection to the TTS provider to reopen` : ""}; it was abandoned`,
        ),
      );
    }, options.synthesisTimeoutMs);
    const resampler = this.#resampler!;
    resampler.reset();
    const sentAt = this.clock.now();
    const pieceStartMs = context.audioMs;
    let reads: EngineReads | undefined;
    let timed = false;
    try {
      // A piece synthesised ahead is read from where it is.
      const iterator = claimed ?? this.synthesize(text, control.signal, request)[Symbol.asyncIterator]();
      reads = new EngineReads(iterator, stall, control.signal);
      for (;;) {
        const result = await reads.next();
        if (control.signal.aborted) throw control.signal.reason;
        if (result.done) break;
        const output = result.value;
        if (output instanceof Int16Array) {
          if (output.length === 0) continue;
          const ttfb = context.measured ? undefined : this.clock.now() - sentAt;
          // The audio first: it is what the listener waits for, the metric is not.
          await this.#pushAudio(resampler.resample(output), context);
          if (ttfb !== undefined) {
            context.measured = true;
            await this.#metric("ttfb", ttfb);
          }
        } else {
          timed = true;
          await this.#pushWords(output.words, context, pieceStartMs);
        }
      }
      await this.#pushAudio(resampler.flush(), context);
      return { completed: true, timed };
    } catch (thrown) {
      if (outer.aborted) {
        // Interrupted or cancelled: not a failure. A claimed piece's provider context exists even if
        // the barge-in came before the piece got here (after the interruption had ended the others).
        if (claimed) this.#endContext(context, "interrupted");
        return { completed: false, timed };
      }
      const error: unknown = control.signal.aborted ? control.signal.reason : thrown;
      if (!control.signal.aborted) control.abort(error);
      await this.#fail(asError(error));
      return { completed: false, timed };
    } finally {
      stall.stop();
      overall.cancel();
      stopWaitingForOuter();
      if (reads && control.signal.aborted) await this.#letGo(reads);
    }
  }

  // ---------------------------------------------------------------- preemptive speech

  /**
   * Takes the next piece of a held answer's text; at its first sentence, synthesises it ahead
   * (docs/design/tts-services.md, "Preemptive speech"). Only when nothing else is being said: an
   * engine is asked for one piece at a time.
   */
  async #hearGuess(frame: LLMPreemptiveTextFrame): Promise<void> {
    if (!this.#options.preemptiveSpeech) return;
    let guess = this.#guess;
    if (guess?.answerId !== frame.answerId) {
      this.#discardHeld("a newer answer was held");
      guess = this.#guess = {
        answerId: frame.answerId,
        sentences: new SentenceAggregator({ maxChars: this.#options.maxSentenceChars }),
        toSpeakable: this.#options.textToSpeakable(),
        settled: false,
      };
    }
    if (guess.settled) return;
    const pieces = guess.sentences.push(frame.text);
    if (frame.last) pieces.push(guess.sentences.flush());
    const first = pieces.find((piece) => piece !== "");
    if (first === undefined) return;
    guess.settled = true;
    guess.sentences.reset();
    const lettingGo = this.#heldLettingGo;
    if (lettingGo) await this.#settle(lettingGo, "waiting for a synthesis made ahead to stop");
    if (this.#guess !== guess || !this.#mayHold()) return;
    const speakable = guess.toSpeakable(first);
    if (speakable.trim() === "") return;
    this.#held = new HeldSpeech(this.#heldHost(), speakable, `${this.name}/${++this.#contexts}`);
    await this.#metric(TTS_USAGE_METRIC, speakable.length);
  }

  /** Whether a piece may be synthesised ahead now: started, usable, and nothing else being said. */
  #mayHold(): boolean {
    return (
      this.state === "running" &&
      this.#resampler !== undefined &&
      this.#failure === undefined &&
      this.#held === undefined &&
      this.#response === undefined &&
      this.#inFlight === undefined &&
      this.#drain === undefined
    );
  }

  /**
   * The held speech, taken over under `signal`, if it can stand for `speakable` as the first piece
   * of `context`; any other is discarded, and the engine let go of it (bounded) before it is asked
   * for something else.
   */
  async #takeHeld(
    speakable: string,
    context: AudioContext,
    signal: AbortSignal,
  ): Promise<{ contextId: string; claimed: AsyncIterator<SynthesisOutput> } | undefined> {
    const held = this.#held;
    this.#held = undefined;
    if (held) {
      const matches = context.pieces === 0 && !context.started && held.speakable === speakable;
      const claimed = matches ? held.claim(signal) : undefined;
      if (claimed) {
        this.preemptiveSpeechUsed++;
        return { contextId: held.contextId, claimed };
      }
      this.#discard(
        held,
        matches ? "it could no longer be used" : "the confirmed answer began with other words",
      );
    }
    const lettingGo = this.#heldLettingGo;
    if (lettingGo) await this.#settle(lettingGo, "waiting for a synthesis made ahead to stop");
    return undefined;
  }

  #discardHeld(why: string): void {
    const held = this.#held;
    this.#held = undefined;
    if (held) this.#discard(held, why);
  }

  /** Discards `held` (a no-op once claimed) and tracks its engine letting go. */
  #discard(held: HeldSpeech, why: string): void {
    held.discard(why);
    const settled = held.settled;
    const lettingGo = (this.#heldLettingGo = settled.then(() => {
      if (this.#heldLettingGo === lettingGo) this.#heldLettingGo = undefined;
    }));
  }

  #heldHost(): ConstructorParameters<typeof HeldSpeech>[0] {
    const options = this.#options;
    return {
      name: this.name,
      clock: this.clock,
      stallTimeoutMs: options.stallTimeoutMs,
      synthesisTimeoutMs: options.synthesisTimeoutMs,
      releaseTimeoutMs: options.releaseTimeoutMs,
      engineSampleRate: this.engineSampleRate,
      synthesize: (text, signal, request) => this.synthesize(text, signal, request),
      discarded: () => void this.preemptiveSpeechDiscarded++,
      contextDropped: (contextId) => {
        try {
          this.endContext(contextId, "interrupted");
        } catch (error) {
          this.#countFailure(asError(error));
        }
      },
    };
  }

  /** The error of a piece whose stall bound ran out while it waited for `phase`. */
  #stallError(phase: StallPhase, text: string, connectionWaitedMs: number): Error {
    const limitMs = this.#options.stallTimeoutMs;
    const waited = Math.round(connectionWaitedMs);
    if (phase === "connection") {
      return new TTSConnectionWaitError(
        limitMs,
        waited,
        `${this.name}: "${previewText(text)}" waited ${waited} ms for the connection to the TTS provider to reopen ` +
          `(stallTimeoutMs ${limitMs} ms) and was skipped before it could be sent; the connection had dropped and ` +
          "is still being re-established (the provider was not asked yet, so this is not a slow synthesis). " +
          "Raise stallTimeoutMs to let sentences wait longer through reconnects, or check that the provider " +
          "and the network to it are up",
      );
    }
    const after =
      waited > 0 ? ` after it was sent (it had waited ${waited} ms for the connection first)` : "";
    return new TTSTimeoutError(
      "stallTimeoutMs",
      limitMs,
      `${this.name}: the TTS engine gave no audio for ${limitMs} ms (stallTimeoutMs) ` +
        `while synthesising "${previewText(text)}"${after}; it was abandoned. Raise stallTimeoutMs if the engine is slow to start`,
    );
  }

  /** Waits (bounded) for an engine that was stopped early to finish its `finally`. */
  async #letGo(reads: EngineReads): Promise<void> {
    try {
      await reads.letGo(
        this.clock,
        this.#options.releaseTimeoutMs,
        `${this.name}: waiting for the TTS engine to stop`,
      );
    } catch (error) {
      this.logger.warn(`${describe(error)}; it may still hold a process or a connection`, {
        processor: this.name,
      });
    }
  }

  async #pushAudio(audio: Int16Array, context: AudioContext): Promise<void> {
    if (audio.length === 0) return;
    const frame = new TTSAudioRawFrame(audio, this.#sampleRate, 1);
    frame.contextId = context.contextId;
    context.audioStartMs ??= this.clock.now();
    context.audioMs += frame.durationMs;
    await this.pushFrame(frame);
  }

  async #pushWords(
    words: readonly WordTimestamp[],
    context: AudioContext,
    pieceStartMs: number,
  ): Promise<void> {
    // The resampler delays the engine's audio by its filter: a word sounds that much later.
    const delayMs = ((this.#resampler?.delayFrames ?? 0) * 1000) / this.#sampleRate;
    const anchor = (context.audioStartMs ?? this.clock.now()) + pieceStartMs + delayMs;
    for (const word of words) {
      const frame = new TTSTextFrame(word.text);
      // pts assumes the audio plays as it is pushed; the output transport, which knows what is
      // queued ahead, places the word on its audio instead (contextId + audioOffsetMs).
      frame.pts = anchor + word.startMs;
      frame.contextId = context.contextId;
      frame.audioOffsetMs = pieceStartMs + delayMs + word.startMs;
      await this.pushFrame(frame);
    }
  }

  #metric(kind: string, value: number): void | Promise<void> {
    const model = this.model;
    return this.pushFrame(
      new MetricsFrame([
        model === undefined
          ? { processor: this.name, kind, value }
          : { processor: this.name, kind, value, model },
      ]),
    );
  }

  /** Tells the engine a context is over, once, if a piece of it was synthesised. */
  #endContext(context: AudioContext, reason: ContextEnd): void {
    if (!this.#openContexts.delete(context)) return;
    try {
      this.endContext(context.contextId, reason);
    } catch (error) {
      this.#countFailure(asError(error));
    }
  }

  #endOpenContexts(reason: ContextEnd): void {
    for (const context of [...this.#openContexts]) this.#endContext(context, reason);
  }

  /** Reports a failed piece: once per cause, then counted. A permanent failure stops the service. */
  async #fail(error: Error, forcePermanent = false): Promise<void> {
    const permanent = forcePermanent || isPermanent(error);
    if (permanent) this.#failure ??= error;
    if (this.#reporter().occurred(causeOf(error), error.message)) {
      await this.pushError(error, { fatal: permanent });
    }
  }

  #countFailure(error: Error): void {
    this.#reporter().occurred(causeOf(error), error.message);
  }

  #reporter(): RepeatReporter {
    return (this.#repeats ??= new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => this.clock.now(),
    }));
  }

  /** Waits for `work` to settle, at most `releaseTimeoutMs`; never throws (a late one is logged). */
  async #settle(work: Promise<unknown>, what: string): Promise<void> {
    try {
      await deadline(
        this.clock,
        work.then(noop, noop),
        this.#options.releaseTimeoutMs,
        `${this.name}: ${what}`,
        {
          io: true,
        },
      );
    } catch (error) {
      this.logger.warn(`${describe(error)}; it may still hold a process or a connection`, {
        processor: this.name,
      });
    }
  }

  /** Waits (bounded) for the piece in flight to let go, then disconnects, once. */
  async #release(how: "end" | "cancel" = "end"): Promise<void> {
    this.#discardHeld("the pipeline ended");
    this.#guess = undefined;
    const inFlight = this.#inFlight;
    if (inFlight) await this.#settle(inFlight, "waiting for the synthesis in flight to stop");
    const lettingGo = this.#heldLettingGo;
    if (lettingGo) await this.#settle(lettingGo, "waiting for a synthesis made ahead to stop");
    this.#repeats?.flush();
    if (this.#disconnected) return;
    this.#disconnected = true;
    // The provider's close is waited for within a part of the bound, so a server that never answers
    // it is destroyed inside the bound, not after it: two equal bounds nested (a socket's
    // closeTimeoutMs inside releaseTimeoutMs, both 1000 ms by default) let the outer fire first.
    const waitMs = this.#options.releaseTimeoutMs * DISCONNECT_WAIT_SHARE;
    try {
      await deadline(
        this.clock,
        async () => this.disconnect(how, waitMs),
        this.#options.releaseTimeoutMs,
        `${this.name}: disconnecting from the TTS engine`,
        { io: true },
      );
    } catch (error) {
      this.logger.warn(describe(error), { processor: this.name });
    }
  }
}

function noop(): void {}

/**
 * Failures after which the engine cannot speak until its settings change: those of the base's own
 * kinds, and any error that says so itself with `permanent: true` (a provider's rejected key).
 */
function isPermanent(error: Error): boolean {
  return (
    error instanceof TTSBinaryNotFoundError ||
    error instanceof TTSModelNotFoundError ||
    error instanceof MissingTTSApiKeyError ||
    error instanceof ProviderSocketError ||
    (error as { readonly permanent?: unknown }).permanent === true
  );
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(describe(error));
}

/** A stable key for "the same failure again": the error's code (and exit code), not its text. */
function causeOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const exit = (error as { exitCode?: unknown }).exitCode;
  return `${typeof code === "string" ? code : error.name}:${exit === undefined ? "" : String(exit)}`;
}
