import type { Clock, TimerHandle } from "../clock/clock.js";
import type { AudioMixer } from "../audio/mixers/audio-mixer.js";
import { type StreamResampler, createStreamResampler } from "../audio/resampler.js";
import { OutputAudioRawFrame, TTSAudioRawFrame } from "../frames/audio.js";
import type { Frame } from "../frames/frame.js";
import { TTSStoppedFrame } from "../frames/tts.js";
import type { Logger } from "../logger.js";
import { FrameQueue } from "../processors/frame-queue.js";
import { FrameDirection } from "../frames/frame.js";
import { BotSpeakingDetector } from "./bot-speaking-detector.js";

/** What a sender needs from its output transport. */
export interface MediaSenderHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Name for logs: `transport[destination]`. */
  readonly name: string;
  /** Writes one chunk to the sink; false means the sink is closed. */
  write(frame: OutputAudioRawFrame): Promise<boolean>;
  /** Pushes a frame downstream (played audio, frames queued behind audio). */
  push(frame: Frame): void | Promise<void>;
  /** Broadcasts a speaking notification both ways. */
  broadcast(make: () => Frame): void;
  /** Handles a non-audio frame whose turn came (send a message, forward it…). */
  release(frame: Frame): void | Promise<void>;
  /** Reports an error upstream (non-fatal). */
  error(message: string): void;
  /** Tells the task that the end is making progress. */
  progress(): void;
}

/** Settings of one {@link MediaSender}. */
export interface MediaSenderOptions {
  sampleRate: number;
  numChannels: number;
  /** Samples (all channels) per chunk. */
  chunkSamples: number;
  mixer: AudioMixer | undefined;
  maxQueuedMs: number;
  maxCatchUpChunks: number;
  writeTimeoutMs: number;
  botSpeakingFallbackMs: number;
}

type SenderState = "running" | "ending" | "stopped";

/** Consecutive throwing writes after which the sink is treated as closed. */
const MAX_WRITE_ERRORS = 5;

/**
 * Sends one destination's audio, paced by the clock (DESIGN §1.1, STYLE §3).
 *
 * Audio frames are resampled to the output rate and cut into chunks of `chunkSamples`; other
 * frames queue behind the audio before them. A loop waits for each chunk's deadline
 * (`anchor + index × chunkMs`) on the clock, then takes the next chunk (or, with an active
 * mixer, a chunk of silence), mixes it, writes it, and pushes the played chunk downstream.
 * With nothing queued and no active mixer it blocks on its queue and writes nothing; when it
 * wakes it re-anchors. A late loop writes at most `maxCatchUpChunks` back to back, then
 * re-anchors. So whatever the sink does (returns at once, refuses, throws, never settles), the
 * mixer runs at most once per chunk of elapsed time, and nothing spins.
 *
 * A sink that refuses a write is closed for good: the sender stops producing, drops queued
 * audio, stops its mixer and passes other frames straight on.
 */
export class MediaSender {
  readonly chunkMs: number;
  readonly #queue = new FrameQueue();
  readonly #speaking: BotSpeakingDetector;
  readonly #loopAbort = new AbortController();
  #state: SenderState = "running";
  #sinkClosed = false;
  #resampler: StreamResampler | undefined;
  #resamplerRate = 0;
  /** Samples waiting to fill the next chunk, and the frame class they came in. */
  #partial: Int16Array;
  #partialLength = 0;
  #partialType: typeof OutputAudioRawFrame = OutputAudioRawFrame;
  #queuedAudioChunks = 0;
  #anchor = 0;
  #index = 0;
  #endSilenceChunks = 0;
  #onEnded: (() => void) | undefined;
  #ended: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;
  #onSpace: (() => void) | undefined;
  #writeErrors = 0;
  #mixerFailed = false;
  #mixerStopped = false;
  #started = false;

  /** Ticks that wrote a chunk (counters for tests and metrics). */
  chunksWritten = 0;
  /** Chunks that carried queued audio (not mixer-only silence). */
  audioChunksWritten = 0;
  /** Audio chunks dropped by interruptions or a closed sink. */
  chunksDropped = 0;
  /** Times the loop was late by more than `maxCatchUpChunks` and re-anchored. */
  reanchors = 0;

  constructor(
    private readonly host: MediaSenderHost,
    private readonly options: MediaSenderOptions,
  ) {
    this.chunkMs = (options.chunkSamples / options.numChannels / options.sampleRate) * 1000;
    this.#partial = new Int16Array(options.chunkSamples);
    this.#speaking = new BotSpeakingDetector(host.clock, host.broadcast, options.botSpeakingFallbackMs);
  }

  /** Whether the sink refused audio (or stalled) and the sender stopped producing. */
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

  /** Starts the clock loop. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#run();
  }

  /**
   * Queues audio: resampled to the output rate, cut into chunks. Waits (aborted by `signal`)
   * while more than `maxQueuedMs` is queued, so a fast producer is held back instead of
   * growing the queue.
   */
  async enqueueAudio(frame: OutputAudioRawFrame, signal?: AbortSignal): Promise<void> {
    if (this.#sinkClosed || this.#state === "stopped") {
      this.chunksDropped += Math.ceil(frame.audio.length / this.options.chunkSamples);
      return;
    }
    if (frame.numChannels !== this.options.numChannels) {
      this.host.error(
        `${this.host.name}: audio has ${frame.numChannels} channel(s) but the output plays ${this.options.numChannels}; ` +
          "set TransportParams.audioOutChannels or convert before the output transport",
      );
      return;
    }
    while (this.queuedMs >= this.options.maxQueuedMs && this.#producing()) {
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = (): void => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#onSpace = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
      });
    }
    const audio = await this.#resample(frame);
    if (signal?.aborted) return; // interrupted while resampling: the audio is stale
    this.#append(audio, frame instanceof TTSAudioRawFrame ? TTSAudioRawFrame : OutputAudioRawFrame);
  }

  /** Queues a non-audio frame behind the audio queued before it. */
  enqueue(frame: Frame): void | Promise<void> {
    if (frame instanceof TTSStoppedFrame) this.#flushPartial();
    if (this.#sinkClosed || this.#state === "stopped") return this.host.release(frame);
    this.#queue.push(frame, FrameDirection.DOWNSTREAM);
    this.#wake();
  }

  /** Applies a mixer control frame now (not in audio order). */
  async controlMixer(frame: Parameters<AudioMixer["processFrame"]>[0]): Promise<void> {
    await this.options.mixer?.processFrame(frame);
    this.#wake(); // a mixer that became active needs ticks
  }

  /**
   * Interruption: drops queued audio (and other interruptible frames) at once, ends the bot's
   * turn, keeps ticking so the mixer plays on without a gap. At most the chunk being written
   * right now still goes out.
   */
  interrupt(): void {
    const before = this.#queuedAudioChunks;
    this.#dropQueuedAudio();
    this.chunksDropped += before;
    this.#partialLength = 0;
    this.#resampler?.reset();
    this.#speaking.stopped();
  }

  /**
   * End: plays what is queued, then `endSilenceMs` of (mixed) silence, stops the mixer and
   * resolves. Resolves at once if the sink is closed. Idempotent.
   */
  end(endSilenceMs: number): Promise<void> {
    if (this.#ended) return this.#ended;
    this.#flushPartial();
    this.#ended = new Promise<void>((resolve) => {
      this.#onEnded = resolve;
    });
    if (this.#sinkClosed || this.#state === "stopped") {
      this.#finish();
      return this.#ended;
    }
    this.#state = "ending";
    this.#endSilenceChunks = Math.ceil(endSilenceMs / this.chunkMs);
    this.#wake();
    return this.#ended;
  }

  /** Cancel: stops now, drops everything, stops the mixer. Idempotent. */
  async stop(): Promise<void> {
    this.#dropQueuedAudio();
    this.#queue.clear();
    this.#finish();
    await this.#stopMixer();
  }

  /** Releases the resampler. Call after `stop()` or `end()`. */
  dispose(): void {
    this.#finish();
    this.#resampler?.dispose();
    this.#resampler = undefined;
  }

  /**
   * The sink is gone (the write returned false, kept throwing or stalled, or the transport
   * learned it from its socket): stop producing for good.
   */
  closeSink(reason: string): void {
    if (this.#sinkClosed) return;
    this.#sinkClosed = true;
    this.host.logger.info(`${this.host.name}: sink closed (${reason}); no more audio will be produced`, {
      processor: this.host.name,
    });
    this.chunksDropped += this.#queuedAudioChunks;
    // Frames queued behind audio still go on, in order; audio cannot be played any more.
    const rest: Frame[] = [];
    for (let f = this.#queue.shift(); f; f = this.#queue.shift())
      if (!(f instanceof OutputAudioRawFrame)) rest.push(f);
    this.#queuedAudioChunks = 0;
    this.#partialLength = 0;
    this.#speaking.dispose();
    this.#finish();
    void this.#stopMixer();
    void (async () => {
      for (const f of rest) await this.host.release(f);
    })();
  }

  // ---------------------------------------------------------------- the clock loop

  async #run(): Promise<void> {
    const { clock } = this.host;
    const signal = this.#loopAbort.signal;
    this.#anchor = clock.now();
    this.#index = 0;
    try {
      while (!signal.aborted) {
        if (!this.#hasWork()) {
          if (this.#state === "ending") {
            await this.#stopMixer(); // stop the mixer, then report the end
            this.#finish();
            return;
          }
          await new Promise<void>((resolve) => {
            this.#onIdle = resolve;
          });
          this.#anchor = clock.now();
          this.#index = 0;
          continue;
        }
        const due = this.#anchor + this.#index * this.chunkMs;
        const now = clock.now();
        if (due > now) {
          await clock.waitUntil(due, signal);
        } else if (now - due > this.options.maxCatchUpChunks * this.chunkMs) {
          this.reanchors++;
          this.#anchor = now;
          this.#index = 0;
        }
        await this.#tick();
        this.#index++;
      }
    } catch (error) {
      if (!signal.aborted) this.host.error(`${this.host.name}: output loop failed: ${String(error)}`);
    }
  }

  /** Whether the sender still takes audio (the state changes across awaits, hence a method). */
  #producing(): boolean {
    return !this.#sinkClosed && this.#state !== "stopped";
  }

  #hasWork(): boolean {
    if (this.#queue.length > 0) return true;
    if (this.#state === "ending") return this.#endSilenceChunks > 0;
    return this.#mixerActive();
  }

  #mixerActive(): boolean {
    return !!this.options.mixer && !this.#mixerFailed && !this.#mixerStopped && this.options.mixer.active;
  }

  async #tick(): Promise<void> {
    // Frames queued before the next chunk of audio go now, in order.
    for (
      let head = this.#queue.peek();
      head && !(head instanceof OutputAudioRawFrame);
      head = this.#queue.peek()
    ) {
      this.#queue.shift();
      if (head instanceof TTSStoppedFrame) this.#speaking.stopped();
      await this.host.release(head);
      if (this.#sinkClosed || this.#state === "stopped") return;
    }
    const chunk = this.#queue.peek() as OutputAudioRawFrame | undefined;
    let audio: Int16Array;
    if (chunk) {
      this.#queue.shift();
      this.#queuedAudioChunks--;
      this.#onSpace?.();
      this.#onSpace = undefined;
      audio = chunk.audio;
    } else if (this.#mixerActive() || (this.#state === "ending" && this.#endSilenceChunks > 0)) {
      audio = new Int16Array(this.options.chunkSamples);
      if (this.#state === "ending") this.#endSilenceChunks--;
    } else {
      return;
    }
    audio = this.#mix(audio);
    const out =
      chunk && audio === chunk.audio
        ? chunk
        : new OutputAudioRawFrame(audio, this.options.sampleRate, this.options.numChannels);
    const written = await this.#write(out);
    if (!written) return;
    this.chunksWritten++;
    if (this.#state === "ending") this.host.progress();
    if (chunk) {
      this.audioChunksWritten++;
      this.#speaking.onBotAudio();
      await this.host.push(chunk); // the bot audio as played, without the background
    }
  }

  #mix(audio: Int16Array): Int16Array {
    const mixer = this.options.mixer;
    if (!mixer || this.#mixerFailed || this.#mixerStopped) return audio;
    try {
      return mixer.mix(audio);
    } catch (error) {
      this.#mixerFailed = true;
      this.host.error(`${this.host.name}: mixer failed and was turned off: ${String(error)}`);
      return audio;
    }
  }

  /** Writes with a deadline. False (and the sink closed) when refused, stalled or failing. */
  async #write(frame: OutputAudioRawFrame): Promise<boolean> {
    let timer: TimerHandle | undefined;
    try {
      const outcome = await Promise.race([
        this.host.write(frame),
        new Promise<"timeout">((resolve) => {
          timer = this.host.clock.setTimer(() => resolve("timeout"), this.options.writeTimeoutMs);
        }),
      ]);
      if (outcome === "timeout") {
        this.host.error(
          `${this.host.name}: the sink did not accept audio within ${this.options.writeTimeoutMs} ms; stopping output`,
        );
        this.closeSink("write stalled");
        return false;
      }
      this.#writeErrors = 0;
      if (!outcome) this.closeSink("writeAudioFrame returned false");
      return outcome && !this.#sinkClosed;
    } catch (error) {
      this.host.error(`${this.host.name}: writeAudioFrame threw: ${String(error)}`);
      if (++this.#writeErrors >= MAX_WRITE_ERRORS)
        this.closeSink(`${MAX_WRITE_ERRORS} writes in a row threw`);
      return false;
    } finally {
      timer?.cancel();
    }
  }

  // ---------------------------------------------------------------- chunking

  async #resample(frame: OutputAudioRawFrame): Promise<Int16Array> {
    if (frame.sampleRate === this.options.sampleRate) return frame.audio;
    if (!this.#resampler || this.#resamplerRate !== frame.sampleRate) {
      this.#resampler?.dispose();
      this.#resampler = await this.host.clock.track(
        createStreamResampler({
          inRate: frame.sampleRate,
          outRate: this.options.sampleRate,
          channels: this.options.numChannels,
        }),
      );
      this.#resamplerRate = frame.sampleRate;
    }
    return this.#resampler.resample(frame.audio);
  }

  #append(audio: Int16Array, type: typeof OutputAudioRawFrame): void {
    if (this.#partialLength > 0 && type !== this.#partialType) this.#flushPartial();
    this.#partialType = type;
    const size = this.options.chunkSamples;
    let offset = 0;
    while (offset < audio.length) {
      const take = Math.min(size - this.#partialLength, audio.length - offset);
      this.#partial.set(audio.subarray(offset, offset + take), this.#partialLength);
      this.#partialLength += take;
      offset += take;
      if (this.#partialLength === size) {
        this.#pushChunk(this.#partial);
        this.#partial = new Int16Array(size);
        this.#partialLength = 0;
      }
    }
  }

  /** Queues the trailing partial chunk, padded with silence, so no audio of a turn is lost. */
  #flushPartial(): void {
    if (this.#partialLength === 0) return;
    this.#pushChunk(this.#partial); // the rest of the array is already zeros
    this.#partial = new Int16Array(this.options.chunkSamples);
    this.#partialLength = 0;
  }

  #pushChunk(samples: Int16Array): void {
    const chunk = new this.#partialType(samples, this.options.sampleRate, this.options.numChannels);
    this.#queue.push(chunk, FrameDirection.DOWNSTREAM);
    this.#queuedAudioChunks++;
    this.#wake();
  }

  #dropQueuedAudio(): void {
    if (this.#queuedAudioChunks > 0 || this.#queue.length > 0) this.#queue.dropInterruptible();
    this.#queuedAudioChunks = 0;
    this.#onSpace?.();
    this.#onSpace = undefined;
  }

  #wake(): void {
    const wake = this.#onIdle;
    this.#onIdle = undefined;
    wake?.();
  }

  #finish(): void {
    if (this.#state !== "stopped") {
      this.#state = "stopped";
      this.#loopAbort.abort();
      this.#wake();
      this.#onSpace?.();
      this.#onSpace = undefined;
    }
    this.#speaking.dispose();
    const ended = this.#onEnded;
    this.#onEnded = undefined;
    ended?.();
  }

  async #stopMixer(): Promise<void> {
    if (this.#mixerStopped || !this.options.mixer) return;
    this.#mixerStopped = true;
    try {
      await this.options.mixer.stop();
    } catch (error) {
      this.host.error(`${this.host.name}: mixer failed to stop: ${String(error)}`);
    }
  }
}
