import type { Clock } from "../clock/clock.js";
import { pooledCopy, pooledSilence } from "../audio/pcm-pool.js";
import type { GuardedMixer } from "../audio/mixers/guarded-mixer.js";
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "../audio/resampler.js";
import { OutputAudioRawFrame, TTSAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection, isUninterruptible } from "../frames/frame.js";
import type { MixerControlFrame } from "../frames/mixer.js";
import { TTSTextFrame } from "../frames/text.js";
import { TTSStoppedFrame } from "../frames/tts.js";
import type { Logger } from "../logger.js";
import { CancelledError, describe } from "../errors.js";
import { FrameQueue } from "../processors/frame-queue.js";
import { RepeatReporter } from "../reporting/repeat-reporter.js";
import { AudioAnchoredFrames } from "./audio-anchored-frames.js";
import { AudioChunker, type OutputFormat } from "./audio-chunker.js";
import { BotSpeakingDetector } from "./bot-speaking-detector.js";
import type { Pacer } from "./pacer.js";
import { SinkWriter } from "./sink-writer.js";
import { TimedFrameQueue } from "./timed-frame-queue.js";

/** What a sender needs from its output transport. */
export interface MediaSenderHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Name for logs: `transport[destination]`. */
  readonly name: string;
  /** Writes one chunk to the client; false means the sink is closed. */
  writeAudio(frame: OutputAudioRawFrame): Promise<boolean>;
  /** Hands on a frame whose turn came: to the client and/or downstream (the one delivery route). */
  deliver(frame: Frame): void | Promise<void>;
  /** Tells the client to drop the audio it has buffered (interruption). */
  clearClient(): void | Promise<void>;
  /** Pushes a played chunk of bot audio downstream. */
  pushPlayed(frame: OutputAudioRawFrame): void | Promise<void>;
  /** Broadcasts a speaking notification both ways. */
  broadcast(make: () => Frame): void;
  /** Reports an error upstream (non-fatal). */
  error(message: string): void;
  /** Tells the task that the end is making progress. */
  progress(): void;
  /** The sender found the sink gone by itself (a write refused, stalled or kept failing). */
  sinkLost(reason: string): void;
}

/** Settings of one {@link MediaSender}. */
export interface MediaSenderOptions {
  /** The audio this destination plays; `undefined`: no audio output, frames only. */
  format: OutputFormat | undefined;
  /** Grants the ticks (required with a `format`); already bounded by a `PaceLimiter`. */
  pacer: Pacer | undefined;
  mixer: GuardedMixer | undefined;
  maxQueuedMs: number;
  writeTimeoutMs: number;
  botSpeakingFallbackMs: number;
}

type SenderState = "running" | "ending" | "ended" | "cancelled";

/**
 * Sends one destination's output, paced (docs/design/output-pacing.md).
 *
 * **One route for every frame.** Audio is cut into chunks at the output rate by an
 * {@link AudioChunker} and queued; other frames queue behind the audio before them, or wait in
 * a {@link TimedFrameQueue} for their `pts`, or (urgent ones) skip the queue. Every frame leaves
 * the same way: the loop releases it when its turn comes and hands it to `host.deliver`, which
 * writes it to the client and/or pushes it on; every chunk leaves on a tick through
 * `host.writeAudio`. All calls to the client (write audio, deliver, clear) come from the loop,
 * one at a time, in order.
 *
 * **Pacing.** The loop asks its {@link Pacer} for a tick before every write and never writes
 * without one. On a tick it releases the frames queued ahead of the next chunk, then takes that
 * chunk (or, with an active mixer or end silence due, a chunk of silence), mixes it, writes it,
 * and pushes the played bot chunk on. With nothing to write it tells the pacer it is idle and
 * blocks until something comes. So whatever the sink does (returns at once, refuses, throws,
 * never settles), the mixer runs at most once per tick, and nothing spins.
 *
 * **Sink closed.** A sink that refuses a write (or that the transport learns is gone) is closed
 * for good: the sender stops producing audio, drops the queued audio, stops the mixer; frames
 * still go on, in order.
 */
/** Most frames held for their `pts` at once (uninterruptible ones always are). */
const MAX_TIMED_FRAMES = 10_000;

export class MediaSender {
  readonly #host: MediaSenderHost;
  readonly #options: MediaSenderOptions;
  readonly #format: OutputFormat | undefined;
  readonly #chunker: AudioChunker | undefined;
  readonly #speaking: BotSpeakingDetector;
  readonly #errors: RepeatReporter;
  /** Audio chunks and the frames queued behind them, in order. */
  readonly #queue = new FrameQueue();
  /** Frames whose turn has come, delivered by the loop in order. */
  #ready: Frame[] = [];
  readonly #timed: TimedFrameQueue;
  /** Spoken words placed on the chunk of audio they belong to (with audio output only). */
  readonly #anchored: AudioAnchoredFrames | undefined;
  readonly #writer: SinkWriter;
  readonly #life = new AbortController();
  #state: SenderState = "running";
  #sinkClosed = false;
  #clearPending = false;
  #queuedAudioChunks = 0;
  #endSilenceChunks = 0;
  #ended: Promise<void> | undefined;
  #onEnded: (() => void) | undefined;
  #onSpace: (() => void) | undefined;
  /** A tick requested from the pacer and not yet used. */
  #tickWait: Promise<void> | undefined;
  #tickDue = false;
  #tickFailure: { error: unknown } | undefined;
  /** The loop failed once and was started again without ticks (the sink lost). */
  #loopRestarted = false;
  /** The pacer's schedule is running (a tick was asked for since the last idle). */
  #playing = false;
  #wakePromise: Promise<void> | undefined;
  #wakeResolve: (() => void) | undefined;
  #woken = false;
  #started = false;

  /** Ticks that wrote a chunk (counters for tests and metrics). */
  chunksWritten = 0;
  /** Chunks that carried queued audio (not mixer-only silence). */
  audioChunksWritten = 0;
  /** Audio chunks dropped by interruptions or a closed sink. */
  chunksDropped = 0;
  /** Frames with a `pts` dropped because too many were already waiting for theirs. */
  timedFramesDropped = 0;

  constructor(host: MediaSenderHost, options: MediaSenderOptions) {
    this.#host = host;
    this.#options = options;
    this.#format = options.format;
    if (options.format && !options.pacer) throw new Error(`${host.name}: a sender with audio needs a pacer`);
    this.#chunker = options.format ? new AudioChunker(options.format, host.clock) : undefined;
    this.#speaking = new BotSpeakingDetector(host.clock, host.broadcast, options.botSpeakingFallbackMs);
    this.#errors = new RepeatReporter({
      owner: host.name,
      logger: () => host.logger,
      now: () => host.clock.now(),
      report: host.error,
    });
    this.#timed = new TimedFrameQueue(host.clock, () => this.#wake());
    this.#anchored = options.format ? new AudioAnchoredFrames(options.format.chunkMs) : undefined;
    this.#writer = new SinkWriter(host, options.writeTimeoutMs, this.#errors);
  }

  /** Duration of one chunk, in ms (0 without audio output). */
  get chunkMs(): number {
    return this.#format?.chunkMs ?? 0;
  }

  /** Whether the sink refused audio (or stalled, or was closed) and the sender stopped producing. */
  get sinkClosed(): boolean {
    return this.#sinkClosed;
  }

  /** Queued audio, in ms. */
  get queuedMs(): number {
    return this.#queuedAudioChunks * this.chunkMs;
  }

  /** Whether the bot is speaking on this destination. */
  get botSpeaking(): boolean {
    return this.#speaking.speaking;
  }

  /** Times the pacer was late by more than `audioOutMaxCatchUpChunks` and re-anchored. */
  get reanchors(): number {
    return this.#options.pacer?.reanchors ?? 0;
  }

  /** Starts the loop. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#run();
  }

  /**
   * Queues audio: resampled to the output rate, cut into chunks. Waits (aborted by `signal`)
   * while more than `maxQueuedMs` is queued, so a fast producer is held back instead of
   * growing the queue. Audio the output cannot play (wrong channel count, a rate out of range)
   * is reported once and dropped.
   */
  async enqueueAudio(frame: OutputAudioRawFrame, signal?: AbortSignal): Promise<void> {
    const format = this.#format;
    const chunker = this.#chunker;
    if (!format || !chunker) return;
    if (!this.#producing()) {
      this.chunksDropped += Math.ceil(frame.audio.length / format.chunkSamples);
      return;
    }
    if (frame.numChannels !== format.numChannels) {
      this.#errors.reportOnce(
        "channels",
        () =>
          `${this.#host.name}: audio has ${frame.numChannels} channel(s) but the output plays ${format.numChannels}; ` +
          "set TransportParams.audioOutChannels or convert before the output transport. Such audio is dropped",
        "warn",
      );
      return;
    }
    if (frame.sampleRate < MIN_SAMPLE_RATE || frame.sampleRate > MAX_SAMPLE_RATE) {
      this.#errors.reportOnce(
        "rate",
        () =>
          `${this.#host.name}: audio at ${frame.sampleRate} Hz cannot be converted to ${format.sampleRate} Hz ` +
          `(rates from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} Hz can); such audio is dropped`,
        "warn",
      );
      return;
    }
    if (frame instanceof TTSAudioRawFrame) this.#anchored?.audioQueued(frame.contextId);
    // A frame longer than the bound goes in pieces, each waiting for room: the bound holds for
    // what a frame brings, not only before it (one 120 s frame queued 60× a 2 s bound).
    const maxMs = this.#options.maxQueuedMs;
    const pieceMs = Math.max(format.chunkMs, maxMs / 2);
    const pieceSamples = Math.max(1, Math.floor((pieceMs / 1000) * frame.sampleRate)) * frame.numChannels;
    for (let at = 0; at < frame.audio.length || at === 0; at += pieceSamples) {
      const piece =
        frame.audio.length <= pieceSamples
          ? frame
          : pieceOf(frame, frame.audio.subarray(at, at + pieceSamples));
      const ms = (piece.audio.length / piece.numChannels / piece.sampleRate) * 1000;
      while (this.queuedMs + Math.min(ms, maxMs) > maxMs && this.queuedMs > 0 && this.#producing())
        await this.#waitForSpace(signal);
      let chunks: OutputAudioRawFrame[];
      try {
        chunks = await chunker.chunk(piece);
      } catch (error) {
        this.#errors.reportOnce(
          "resample",
          () => `${this.#host.name}: cannot convert output audio: ${describe(error)}`,
          "warn",
        );
        return;
      }
      if (signal?.aborted) return; // interrupted while resampling: the audio is stale
      if (!this.#producing()) {
        this.chunksDropped += chunks.length;
        return;
      }
      for (const chunk of chunks) this.#queueChunk(chunk);
      if (piece === frame) return;
    }
  }

  /** Waits until the loop takes a chunk off the queue (aborted by `signal`). */
  #waitForSpace(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = (): void => {
        this.#onSpace = undefined;
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#onSpace = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
    });
  }

  /**
   * Queues a non-audio frame: behind the audio queued before it, or, with a `pts` (a finite
   * time on the task clock, checked by the transport), until that time. Delivered by the loop
   * when its turn comes.
   */
  enqueue(frame: Frame, pts?: number): void | Promise<void> {
    if (this.#state === "ended" || this.#state === "cancelled") return this.#host.deliver(frame);
    if (frame instanceof TTSStoppedFrame) {
      const partial = this.#chunker?.flush();
      if (partial) this.#queueChunk(partial);
      if (frame.contextId !== undefined)
        this.#anchored?.contextEnded(frame.contextId, (f) => this.#ready.push(f));
    }
    if (this.#placedOnAudio(frame)) {
      this.#wake();
      return;
    }
    if (pts !== undefined) {
      if (this.#timed.length >= MAX_TIMED_FRAMES && !isUninterruptible(frame)) {
        // Frames held for a far-off pts are bounded like any queue: past the bound the newest goes.
        if (this.timedFramesDropped++ === 0) {
          this.#host.error(
            `${this.#host.name}: more than ${MAX_TIMED_FRAMES} frames are waiting for their pts; dropping ${frame.name} ` +
              "and counting the rest in timedFramesDropped. Schedule frames closer to their time.",
          );
        }
        return;
      }
      this.#timed.add(frame, pts);
    } else if (this.#sinkClosed || (!this.#playing && this.#queue.length === 0)) {
      this.#ready.push(frame); // nothing is playing or queued ahead of it: its turn is now
    } else {
      this.#queue.push(frame, FrameDirection.DOWNSTREAM);
    }
    this.#wake();
  }

  /**
   * A spoken word (a `TTSTextFrame` with its context and `audioOffsetMs`) whose response's audio
   * came through here: held until the chunk holding that moment is written, so the client sees
   * the word as it is heard, whatever was queued ahead (its `pts` assumed the audio played at once).
   */
  #placedOnAudio(frame: Frame): boolean {
    const anchored = this.#anchored;
    if (!anchored || !(frame instanceof TTSTextFrame) || this.#sinkClosed) return false;
    const { contextId, audioOffsetMs } = frame;
    if (contextId === undefined || audioOffsetMs === undefined) return false;
    if (anchored.length >= MAX_TIMED_FRAMES) return false; // the bounded pts path reports it
    return anchored.place(frame, contextId, audioOffsetMs, (f) => this.#ready.push(f));
  }

  /** Delivers a frame ahead of queued audio (urgent messages), in order with other such frames. */
  enqueueUrgent(frame: Frame): void | Promise<void> {
    if (this.#state === "ended" || this.#state === "cancelled") return this.#host.deliver(frame);
    this.#ready.push(frame);
    this.#wake();
  }

  /** Applies a mixer control frame now (not in audio order). */
  async controlMixer(frame: MixerControlFrame): Promise<void> {
    await this.#options.mixer?.control(frame);
    this.#wake(); // a mixer that became active needs ticks
  }

  /**
   * Interruption: drops queued audio (and other interruptible frames, timed ones too) at once,
   * tells the client to drop what it buffered, ends the bot's turn, and keeps ticking so the
   * mixer plays on without a gap. At most the chunk being written right now still goes out.
   */
  interrupt(): void {
    const before = this.#queuedAudioChunks;
    this.#queue.dropInterruptible();
    this.#queuedAudioChunks = 0;
    this.chunksDropped += before;
    this.#ready = this.#ready.filter(isUninterruptible);
    this.#timed.dropInterruptible();
    this.#anchored?.audioDropped((f) => this.#ready.push(f));
    this.#chunker?.reset();
    this.#space();
    this.#speaking.stopped();
    if (this.#format && !this.#sinkClosed && this.#state !== "cancelled") this.#clearPending = true;
    this.#wake();
  }

  /**
   * End: plays what is queued, then `endSilenceMs` of (mixed) silence, delivers the frames still
   * waiting for their time, stops the mixer and resolves. Without a sink to play to, resolves
   * as soon as the frames are delivered. Idempotent.
   */
  end(endSilenceMs: number): Promise<void> {
    if (this.#ended) return this.#ended;
    this.#ended = new Promise<void>((resolve) => {
      this.#onEnded = resolve;
    });
    if (this.#state === "cancelled") {
      this.#resolveEnded();
      return this.#ended;
    }
    const partial = this.#chunker?.flush();
    if (partial) this.#queueChunk(partial);
    this.#state = "ending";
    if (this.#format && !this.#sinkClosed)
      this.#endSilenceChunks = Math.ceil(endSilenceMs / this.#format.chunkMs);
    if (!this.#started) this.start();
    this.#wake();
    return this.#ended;
  }

  /** Cancel: stops now, drops everything, stops the mixer. Idempotent. */
  async cancel(): Promise<void> {
    if (this.#state !== "cancelled" && this.#state !== "ended") {
      this.#state = "cancelled";
      this.#life.abort(new CancelledError(this.#host.name, "output cancelled"));
      this.#queue.clear();
      this.#ready = [];
      this.#timed.clear();
      this.#anchored?.clear();
      this.#queuedAudioChunks = 0;
      this.#space();
      this.#speaking.dispose();
      this.#writer.dispose();
      this.#wake();
      this.#resolveEnded();
    }
    await this.#options.mixer?.stop();
  }

  /** Releases the resampler, the pacer and the timers. Call after `cancel()` or `end()`. */
  dispose(): void {
    if (this.#state !== "ended") void this.cancel();
    this.#chunker?.dispose();
    this.#options.pacer?.dispose();
    this.#writer.dispose();
    this.#timed.clear();
    this.#anchored?.clear();
    this.#speaking.dispose();
    this.#errors.flush();
  }

  /**
   * The sink is gone (a write returned false, kept throwing or stalled, or the transport learned
   * it from its connection): stop producing audio for good. Frames queued behind the audio
   * still go on, in order.
   */
  closeSink(reason: string): void {
    if (this.#sinkClosed) return;
    this.#sinkClosed = true;
    this.#host.logger.info(`${this.#host.name}: sink closed (${reason}); no more audio will be produced`, {
      processor: this.#host.name,
    });
    this.chunksDropped += this.#queuedAudioChunks;
    // Words waiting for audio that will not play go now, before the frames queued behind that audio.
    this.#anchored?.takeAll((f) => this.#ready.push(f));
    for (let f = this.#queue.shift(); f; f = this.#queue.shift())
      if (!(f instanceof OutputAudioRawFrame)) this.#ready.push(f);
    this.#queuedAudioChunks = 0;
    this.#endSilenceChunks = 0;
    this.#chunker?.reset();
    this.#clearPending = false;
    this.#speaking.dispose();
    this.#space();
    void this.#options.mixer?.stop();
    this.#wake();
  }

  // ---------------------------------------------------------------- the loop

  async #run(): Promise<void> {
    const signal = this.#life.signal;
    try {
      for (;;) {
        if (this.#anyReady()) await this.#releaseReady();
        if (this.#state === "cancelled") return;
        const wants = this.#wantsTick();
        if (this.#tickDue) {
          this.#tickDue = false;
          this.#tickWait = undefined;
          if (wants) await this.#tick();
          else this.#goIdle();
          continue;
        }
        if (!this.#tickWait) {
          if (wants) {
            this.#playing = true;
            this.#tickWait = this.#options.pacer!.nextTick(signal).then(
              () => {
                this.#tickDue = true;
                this.#wake();
              },
              (error: unknown) => {
                this.#tickFailure = { error };
                this.#wake();
              },
            );
          } else if (this.#state === "ending") {
            await this.#finishEnd();
            return;
          } else {
            this.#goIdle();
            await this.#nextWake();
            continue;
          }
        }
        // Wait for the tick (it wakes the loop); frames whose turn comes meanwhile (urgent,
        // timed) wake it too and go out at once.
        await this.#nextWake();
        if (this.#tickFailure) throw this.#tickFailure.error;
      }
    } catch (error) {
      if (signal.aborted) return;
      this.#host.error(`${this.#host.name}: output loop failed: ${describe(error)}`);
      if (this.#loopRestarted) return; // failed again: the task's end watchdog bounds what is left
      // The pacer (or the loop) is gone, so no audio can go out: the sink is lost, and a loop
      // that needs no tick starts again to hand on the frames and finish the end.
      this.#loopRestarted = true;
      this.#tickFailure = undefined;
      this.#tickWait = undefined;
      this.#tickDue = false;
      this.#lose(`output loop failed: ${describe(error)}`);
      void this.#run();
    }
  }

  /** Whether the loop needs a tick: queued frames or audio, an active mixer, end silence due. */
  #wantsTick(): boolean {
    if (!this.#format || this.#sinkClosed) return false;
    if (this.#queue.length > 0) return true;
    if (this.#state === "ending") return this.#endSilenceChunks > 0;
    return this.#options.mixer?.active ?? false;
  }

  #goIdle(): void {
    if (!this.#playing) return;
    this.#playing = false;
    this.#options.pacer?.idle();
  }

  async #tick(): Promise<void> {
    // Frames queued before the next chunk go now, in order: the audio before them has played.
    for (
      let head = this.#queue.peek();
      head && !(head instanceof OutputAudioRawFrame);
      head = this.#queue.peek()
    ) {
      this.#ready.push(this.#queue.shift()!);
    }
    if (this.#anyReady()) await this.#releaseReady();
    if (this.#state === "cancelled" || this.#sinkClosed) return;
    const format = this.#format!;
    const chunk = this.#queue.peek() as OutputAudioRawFrame | undefined;
    let audio: Int16Array;
    if (chunk) {
      this.#queue.shift();
      this.#queuedAudioChunks--;
      this.#space();
      audio = chunk.audio;
      // The words this chunk starts go out just before it is written.
      const ready = this.#ready.length;
      this.#anchored?.chunkWritten((f) => this.#ready.push(f));
      if (this.#ready.length > ready) {
        await this.#releaseReady();
        if (this.#halted()) {
          this.chunksDropped++; // taken off the queue, never written
          return;
        }
      }
    } else if (
      this.#state === "ending" ? this.#endSilenceChunks > 0 : (this.#options.mixer?.active ?? false)
    ) {
      audio = pooledSilence(format.chunkSamples);
      if (this.#state === "ending") this.#endSilenceChunks--;
    } else {
      return;
    }
    // A mixer that mixes in place must not put the background into the bot audio pushed on.
    if (this.#options.mixer) audio = this.#options.mixer.mix(chunk ? pooledCopy(audio) : audio);
    const out =
      chunk && audio === chunk.audio
        ? chunk
        : new OutputAudioRawFrame(audio, format.sampleRate, format.numChannels);
    if (!(await this.#write(out))) return;
    this.chunksWritten++;
    if (this.#state === "ending") this.#host.progress();
    if (chunk) {
      this.audioChunksWritten++;
      this.#speaking.onBotAudio();
      await this.#host.pushPlayed(chunk); // the bot audio as played, without the background
    }
  }

  /**
   * Whether {@link #releaseReady} may have something to do. Most ticks have nothing: checked
   * first, so they do not pay for an async call (its promises and a microtask turn).
   */
  #anyReady(): boolean {
    return this.#clearPending || this.#ready.length > 0 || this.#timed.length > 0;
  }

  /** Delivers the frames whose turn came (and the client's clear after an interruption), in order. */
  async #releaseReady(): Promise<void> {
    for (;;) {
      if (this.#clearPending) {
        this.#clearPending = false;
        await this.#callClient("clearing the client's buffer", () => this.#host.clearClient());
      }
      if (this.#timed.length > 0) this.#timed.takeDue((f) => this.#ready.push(f));
      const frame = this.#ready.shift();
      if (!frame) return;
      if (frame instanceof TTSStoppedFrame) this.#speaking.stopped();
      await this.#host.deliver(frame);
      if (this.#state === "cancelled") return;
    }
  }

  async #finishEnd(): Promise<void> {
    this.#anchored?.takeAll((f) => this.#ready.push(f));
    this.#timed.takeAll((f) => this.#ready.push(f));
    await this.#releaseReady();
    this.#goIdle();
    await this.#options.mixer?.stop();
    if (this.#state === "ending") this.#state = "ended";
    this.#speaking.dispose();
    this.#writer.dispose();
    this.#resolveEnded();
  }

  /** Writes a chunk; false (and the sink closed, if the writer says so) when it did not go out. */
  async #write(frame: OutputAudioRawFrame): Promise<boolean> {
    const result = await this.#writer.writeAudio(frame);
    if (!result.ok && result.closeSink) this.#lose(result.closeSink);
    return result.ok && !this.#sinkClosed;
  }

  async #callClient(what: string, call: () => void | Promise<void>): Promise<void> {
    const result = await this.#writer.call(what, call);
    if (!result.ok && result.closeSink) this.#lose(result.closeSink);
  }

  /** The sink is gone by what this sender saw: stop, and tell the transport (its connection is gone too). */
  #lose(reason: string): void {
    if (this.#sinkClosed) return;
    this.closeSink(reason);
    this.#host.sinkLost(reason);
  }

  // ---------------------------------------------------------------- helpers

  /** Cancelled or without a sink (a check made again after an await, which the compiler would narrow away). */
  #halted(): boolean {
    return this.#state === "cancelled" || this.#sinkClosed;
  }

  #producing(): boolean {
    return !this.#sinkClosed && (this.#state === "running" || this.#state === "ending");
  }

  #queueChunk(chunk: OutputAudioRawFrame): void {
    this.#anchored?.chunkQueued();
    this.#queue.push(chunk, FrameDirection.DOWNSTREAM);
    this.#queuedAudioChunks++;
    this.#wake();
  }

  #space(): void {
    const onSpace = this.#onSpace;
    this.#onSpace = undefined;
    onSpace?.();
  }

  #nextWake(): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    this.#wakePromise ??= new Promise<void>((resolve) => {
      this.#wakeResolve = resolve;
    });
    return this.#wakePromise;
  }

  #wake(): void {
    const resolve = this.#wakeResolve;
    this.#wakeResolve = undefined;
    this.#wakePromise = undefined;
    if (resolve) resolve();
    else this.#woken = true;
  }

  #resolveEnded(): void {
    const ended = this.#onEnded;
    this.#onEnded = undefined;
    ended?.();
  }
}

/** A piece of a frame's audio, as a frame of the same kind (TTS audio stays TTS audio). */
function pieceOf(frame: OutputAudioRawFrame, audio: Int16Array): OutputAudioRawFrame {
  return frame instanceof TTSAudioRawFrame
    ? new TTSAudioRawFrame(audio, frame.sampleRate, frame.numChannels)
    : new OutputAudioRawFrame(audio, frame.sampleRate, frame.numChannels);
}
