import type { AudioMixer } from "../audio/mixers/audio-mixer.js";
import { loadSpeexModule } from "../audio/speex-wasm.js";
import { OutputAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection, SystemFrame } from "../frames/frame.js";
import { type CancelFrame, type EndFrame, InterruptionFrame, type StartFrame } from "../frames/lifecycle.js";
import { MixerControlFrame } from "../frames/mixer.js";
import {
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "../frames/transport-messages.js";
import { FrameProcessor, type FrameProcessorOptions } from "../processors/frame-processor.js";
import { MediaSender } from "./media-sender.js";
import { TimedFrameQueue } from "./timed-frame-queue.js";
import { type TransportParams, resolveTransportParams } from "./transport-params.js";

/** Key of the default destination in per-destination maps. */
export const DEFAULT_DESTINATION = "";

/**
 * Sends the pipeline's output to a client (DESIGN §6). Subclasses implement
 * {@link writeAudioFrame} (and {@link sendMessage} for messages); the base class does the rest:
 * one clock-paced {@link MediaSender} per destination, resampling and chunking, the mixer,
 * timed frames, bot-speaking detection, interruption, and the end of the stream.
 *
 * Guarantees: audio leaves on clock ticks only, one chunk of `audioOut10msChunks × 10 ms` per
 * tick; a sink that returns at once, refuses, throws or never settles cannot make it spin or
 * push frames downstream; on `EndFrame` it plays what is queued, then `audioOutEndSilenceMs` of
 * (mixed) silence, stops the mixer and passes the frame on; on `CancelFrame` it stops at once.
 *
 * Downstream it pushes the bot audio it played (never mixer-only audio) and the frames that
 * were queued behind audio, in order.
 */
export abstract class BaseOutputTransport extends FrameProcessor {
  readonly params: Readonly<TransportParams>;
  readonly #senders = new Map<string, MediaSender>();
  #timed: TimedFrameQueue | undefined;
  #sampleRate = 0;
  readonly #warnedDestinations = new Set<string>();

  constructor(params: Partial<TransportParams> = {}, options: FrameProcessorOptions = {}) {
    super(options);
    this.params = resolveTransportParams(params);
  }

  /** Output sample rate in Hz (known once started). */
  get sampleRate(): number {
    return this.#sampleRate;
  }

  /** The sender of `destination` ("" or undefined: the default one), once started. */
  sender(destination?: string): MediaSender | undefined {
    return this.#senders.get(destination ?? DEFAULT_DESTINATION);
  }

  /**
   * Writes one chunk of audio to the client. Return false when the sink is closed (the
   * transport then stops producing for good). Never sleep here to pace: the base class
   * already writes on the clock.
   */
  protected abstract writeAudioFrame(
    frame: OutputAudioRawFrame,
    destination: string | undefined,
  ): Promise<boolean>;

  /** Sends a message to the client (RTVI, custom messages). The default drops it. */
  protected sendMessage(_message: unknown, _urgent: boolean): Promise<void> | void {}

  /**
   * The sink closed (e.g. the client disconnected): stop producing now on every destination,
   * without waiting for a write to fail.
   */
  protected sinkClosed(reason: string): void {
    for (const s of this.#senders.values()) s.closeSink(reason);
  }

  protected override async start(frame: StartFrame): Promise<void> {
    if (!this.params.audioOutEnabled) return;
    const rate = this.params.audioOutSampleRate ?? frame.params.audioOutSampleRate;
    this.#sampleRate = rate;
    const channels = this.params.audioOutChannels;
    const chunkSamples = Math.floor(rate / 100) * this.params.audioOut10msChunks * channels;
    // Load the resampler now, so the first audio at another rate is not held up mid-stream.
    await this.clock.track(loadSpeexModule());
    this.#timed = new TimedFrameQueue(this.clock, (f) => void this.pushFrame(f, FrameDirection.DOWNSTREAM));
    for (const destination of [DEFAULT_DESTINATION, ...this.params.audioOutDestinations]) {
      const mixer = await this.#startMixer(destination, rate, channels);
      const sender = new MediaSender(
        {
          clock: this.clock,
          logger: this.logger,
          name: destination ? `${this.name}[${destination}]` : this.name,
          write: (f) => this.writeAudioFrame(f, destination || undefined),
          push: (f) => this.pushFrame(f, FrameDirection.DOWNSTREAM),
          broadcast: (make) => void this.broadcastFrame(make),
          release: (f) => this.#release(f),
          error: (message) => void this.pushError(message),
          progress: () => this.context?.reportProgress(),
        },
        {
          sampleRate: rate,
          numChannels: channels,
          chunkSamples,
          mixer,
          maxQueuedMs: this.params.audioOutMaxQueuedMs,
          maxCatchUpChunks: this.params.audioOutMaxCatchUpChunks,
          writeTimeoutMs: this.params.audioOutWriteTimeoutMs,
          botSpeakingFallbackMs: this.params.botSpeakingFallbackMs,
        },
      );
      this.#senders.set(destination, sender);
      sender.start();
    }
  }

  protected override async stop(_frame: EndFrame): Promise<void> {
    await Promise.all([...this.#senders.values()].map((s) => s.end(this.params.audioOutEndSilenceMs)));
    this.#timed?.flushAll();
  }

  protected override async cancel(_frame: CancelFrame): Promise<void> {
    this.#timed?.clear();
    await Promise.all([...this.#senders.values()].map((s) => s.stop()));
  }

  protected override async cleanup(): Promise<void> {
    this.#timed?.clear();
    await Promise.all([...this.#senders.values()].map((s) => s.stop()));
    for (const s of this.#senders.values()) s.dispose();
  }

  override processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): void | Promise<void> {
    if (direction === FrameDirection.UPSTREAM) return super.processFrame(frame, direction);
    if (this.#senders.size === 0) {
      // No audio output: messages still go to the client, in order; everything else passes on.
      if (frame instanceof OutputTransportMessageUrgentFrame) return this.sendMessage(frame.message, true);
      if (frame instanceof OutputTransportMessageFrame) return this.sendMessage(frame.message, false);
      return super.processFrame(frame, direction);
    }
    if (frame instanceof SystemFrame) {
      if (frame instanceof InterruptionFrame) {
        this.#timed?.clear();
        for (const s of this.#senders.values()) s.interrupt();
      } else if (frame instanceof OutputTransportMessageUrgentFrame) {
        return this.sendMessage(frame.message, true);
      }
      return super.processFrame(frame, direction);
    }
    const sender = this.#senderFor(frame);
    if (!sender) return;
    if (frame instanceof MixerControlFrame) return sender.controlMixer(frame);
    if (frame.pts !== undefined && !(frame instanceof OutputAudioRawFrame)) {
      this.#timed?.add(frame);
      return;
    }
    if (frame instanceof OutputAudioRawFrame) return sender.enqueueAudio(frame, signal);
    return sender.enqueue(frame);
  }

  /** A non-audio frame whose turn came behind the audio. */
  #release(frame: Frame): void | Promise<void> {
    if (frame instanceof OutputTransportMessageFrame) return this.sendMessage(frame.message, false);
    return this.pushFrame(frame, FrameDirection.DOWNSTREAM);
  }

  #senderFor(frame: Frame): MediaSender | undefined {
    const destination = frame.transportDestination ?? DEFAULT_DESTINATION;
    const sender = this.#senders.get(destination);
    if (!sender && !this.#warnedDestinations.has(destination)) {
      this.#warnedDestinations.add(destination);
      void this.pushError(
        `${this.name}: no output destination "${destination}" (known: ${[...this.#senders.keys()].map((d) => JSON.stringify(d)).join(", ")}); ` +
          "add it to TransportParams.audioOutDestinations. Frames for it are dropped.",
      );
    }
    return sender;
  }

  async #startMixer(destination: string, rate: number, channels: number): Promise<AudioMixer | undefined> {
    const m = this.params.audioOutMixer;
    const mixer = m === undefined ? undefined : isMixer(m) ? m : m[destination];
    if (!mixer) return undefined;
    try {
      await this.clock.track(Promise.resolve(mixer.start(rate, channels))); // reads sound files
      return mixer;
    } catch (error) {
      void this.pushError(
        `${this.name}: the mixer for ${destination ? `"${destination}"` : "the default destination"} failed to start ` +
          `and is off: ${error instanceof Error ? error.message : String(error)}`,
      );
      return undefined;
    }
  }
}

function isMixer(m: AudioMixer | Record<string, AudioMixer>): m is AudioMixer {
  return typeof (m as AudioMixer).mix === "function";
}
