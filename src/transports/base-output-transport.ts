import { GuardedMixer } from "../audio/mixers/guarded-mixer.js";
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
import { RepeatReporter } from "../reporting/repeat-reporter.js";
import { VoicepipeError, describe } from "../errors.js";
import { type OutputFormat, outputFormat } from "./audio-chunker.js";
import { DeadlineExceededError, withDeadline } from "./deadline.js";
import { Lifetime } from "./lifetime.js";
import { MediaSender } from "./media-sender.js";
import { type Pacer, type PacerFactory, type PacerTiming, PaceLimiter } from "./pacer.js";
import { checkSampleRate } from "./param-checks.js";
import { SharedTickerPacer } from "./shared-ticker.js";
import type { TransportConnection } from "./transport-connection.js";
import { type TransportParams, mixerFor, resolveTransportParams } from "./transport-params.js";

/** Key of the default destination in per-destination maps. */
export const DEFAULT_DESTINATION = "";

/** A transport class overrides what its base runs itself. */
export class TransportDefinitionError extends VoicepipeError {
  readonly code = "VP_TRANSPORT_DEFINITION";
}

/** Why an output closes: its stream ended, it was cancelled, or its task tore it down. */
export type OutputCloseReason = "end" | "cancel" | "teardown";

/** What {@link BaseOutputTransport.open} is told. */
export interface OutputOpenInfo {
  /** Every destination: "" (the default one) and the named ones. */
  readonly destinations: readonly string[];
  /** The audio the output plays; `undefined` when audio output is off. */
  readonly format: OutputFormat | undefined;
  /** Aborted by cancel and teardown. The base also gives up after `openTimeoutMs`. */
  readonly signal: AbortSignal;
}

/** Options of a {@link BaseOutputTransport}. */
export interface BaseOutputTransportOptions extends FrameProcessorOptions {
  /**
   * The connection shared with the input side. The output holds a lease on it from start to
   * end; when it closes, the output's sink is closed at once on every destination.
   */
  connection?: TransportConnection;
  /**
   * Makes each destination's pacer (a sink with its own media clock). Default: the process's
   * shared clock ticker. Whatever it returns is bounded by a `PaceLimiter`.
   */
  pacer?: PacerFactory;
}

/** Hooks the base runs itself: a subclass implements the verbs instead (see the class docs). */
const SEALED = ["start", "end", "cancel", "cleanup", "processFrame", "onInterruption"] as const;

/**
 * Sends the pipeline's output to a client (docs/design/transports.md,
 * docs/design/output-pacing.md). The base owns the lifecycle; a subclass implements small
 * verbs and never calls `super`:
 *
 * - {@link writeAudio} (required): write one chunk; `false` means the sink is closed.
 * - {@link open}: once, at start, before any write (connect, open the file); deadline
 *   `openTimeoutMs`; a failure is fatal.
 * - {@link close}: once, at end (after the last chunk), cancel or teardown; deadline
 *   `closeTimeoutMs`. Runs even if `open()` failed or is still pending.
 * - {@link writeFrame}: every non-audio frame whose turn comes, whole, in order with the audio
 *   (messages; a serializer picks the frames its client understands).
 * - {@link clearClientBuffer}: an interruption; tell the client to drop the audio it buffered.
 * - {@link createPacer}: optional; a sink with its own media clock paces itself.
 *
 * The lifecycle hooks (`start`, `stop`, `cancel`, `cleanup`, `processFrame`, `onInterruption`)
 * are the base's: a subclass that overrides one is refused at construction.
 *
 * Guarantees: audio leaves on ticks only, one chunk of `audioOut10msChunks × 10 ms` per tick;
 * a sink that returns at once, refuses, throws or never settles cannot make it spin; on
 * `EndFrame` it plays what is queued, then `audioOutEndSilenceMs` of (mixed) silence, stops
 * the mixer, closes, and passes the frame on; on `CancelFrame` it stops at once, writing only
 * the frame's last words (`CancelFrame.lastWords`, within `closeTimeoutMs`) first. Nothing it
 * starts (senders, timers, mixers, the connection lease) outlives its end, cancel or teardown,
 * even one that comes while it is still starting.
 *
 * Downstream it pushes the bot audio it played (never mixer-only audio) and the frames that
 * were queued behind audio, in order; transport messages go to the client only.
 */
export abstract class BaseOutputTransport extends FrameProcessor {
  readonly params: Readonly<TransportParams>;
  /** The connection shared with the input side, if any. */
  readonly connection: TransportConnection | undefined;
  readonly #pacerFactory: PacerFactory | undefined;
  readonly #senders = new Map<string, MediaSender>();
  readonly #life: Lifetime;
  readonly #errors: RepeatReporter;
  #unknownDestinationFrames = 0;
  #format: OutputFormat | undefined;
  #sampleRate = 0;
  #sinkClosedReason: string | undefined;
  /** A writeFrame() overran its deadline: the client is not written to any more. */
  #clientStalled = false;
  /** A cancel began: it, not an end still in progress, closes the output. */
  #cancelling = false;
  /** Settles with whether `open()` succeeded; undefined until the start called it. */
  #opened: Promise<boolean> | undefined;

  constructor(params: Partial<TransportParams> = {}, options: BaseOutputTransportOptions = {}) {
    super(options);
    checkSealed(this, new.target.name);
    this.params = resolveTransportParams(params);
    this.connection = options.connection;
    this.#pacerFactory = options.pacer;
    this.#life = new Lifetime(this.name, (error) =>
      this.logger.error(`${this.name}: shutting down: ${describe(error)}`, { processor: this.name }),
    );
    this.#errors = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.context ? this.clock.now() : 0),
      report: (m) => void this.pushError(m),
    });
  }

  /** Output sample rate in Hz (known once started). */
  get sampleRate(): number {
    return this.#sampleRate;
  }

  /** The audio the output plays (known once started; `undefined` with audio output off). */
  get format(): OutputFormat | undefined {
    return this.#format;
  }

  /** The sender of `destination` ("" or undefined: the default one), once started. */
  sender(destination?: string): MediaSender | undefined {
    return this.#senders.get(destination ?? DEFAULT_DESTINATION);
  }

  /** Whether the sink is closed (the output stopped producing audio for good). */
  get sinkClosed(): boolean {
    return this.#sinkClosedReason !== undefined;
  }

  /**
   * The client is gone (e.g. it disconnected): stop producing now on every destination, without
   * waiting for a write to fail. Idempotent. A shared {@link connection} calls it when it closes.
   */
  closeSink(reason: string): void {
    if (this.#sinkClosedReason !== undefined) return;
    this.#sinkClosedReason = reason;
    for (const s of this.#senders.values()) s.closeSink(reason);
  }

  /**
   * The output found by itself that the client cannot take what it sends (a write refused,
   * stalled or kept failing): the sink is closed and so is the shared connection, so the task
   * ends by its disconnect path instead of running on, silent, for a client still sending.
   */
  #sinkLost(reason: string): void {
    this.closeSink(reason);
    this.connection?.close(`${this.name}: the client stopped taking output (${reason})`);
  }

  // ---------------------------------------------------------------- verbs for subclasses

  /**
   * Writes one chunk of audio to the client. Return false when the sink is closed (the output
   * then stops producing for good). Never sleep here to pace: the base writes on ticks. Called
   * one at a time per destination; mark real I/O with `this.clock.track()`.
   */
  protected abstract writeAudio(
    frame: OutputAudioRawFrame,
    destination: string | undefined,
  ): Promise<boolean>;

  /** Opens the sink, once, before anything is written. The default does nothing. */
  protected open(_info: OutputOpenInfo): void | Promise<void> {}

  /** Closes the sink, once (end, cancel or teardown). The default does nothing. */
  protected close(_reason: OutputCloseReason): void | Promise<void> {}

  /**
   * Writes a non-audio frame to the client: every frame whose turn comes (queued behind audio,
   * at its `pts`, or urgent), whole and in order with the audio, and, on cancel, the cancel's
   * last words (urgent messages; once `open()` has succeeded, even if nothing was played).
   * Transport message frames are for the client only; every other frame is also pushed on. The
   * default writes nothing.
   */
  protected writeFrame(_frame: Frame): void | Promise<void> {}

  /** Interruption: tell the client to drop the audio of `destination` it has buffered. The default does nothing. */
  protected clearClientBuffer(_destination: string | undefined): void | Promise<void> {}

  /**
   * The pacer of `destination`, for a sink that paces itself (its own media clock). The default
   * uses the `pacer` option, or the process's shared clock ticker.
   */
  protected createPacer(timing: PacerTiming, destination: string): Pacer {
    return this.#pacerFactory?.(timing, destination) ?? new SharedTickerPacer(timing);
  }

  // ---------------------------------------------------------------- lifecycle (the base's own)

  protected override async start(frame: StartFrame): Promise<void> {
    const life = this.#life;
    let rate: number;
    try {
      rate =
        this.params.audioOutSampleRate ??
        checkSampleRate(
          "the pipeline's audioOutSampleRate (StartFrame params)",
          frame.params.audioOutSampleRate,
        );
    } catch (error) {
      await this.pushError(error as Error, { fatal: true });
      return;
    }
    const format = this.params.audioOutEnabled
      ? outputFormat(rate, this.params.audioOutChannels, this.params.audioOut10msChunks)
      : undefined;
    this.#sampleRate = rate;
    this.#format = format;
    const destinations = [DEFAULT_DESTINATION, ...this.params.audioOutDestinations];
    const mixers = new Map<string, GuardedMixer>();
    if (format) {
      for (const destination of destinations) {
        const mixer = mixerFor(this.params, destination);
        if (!mixer) continue;
        const guarded = new GuardedMixer(mixer, {
          clock: this.clock,
          timeoutMs: this.params.audioOutMixerTimeoutMs,
          owner: this.#destinationName(destination),
          report: (message, cause) =>
            cause === undefined
              ? void this.pushError(message)
              : this.#errors.reportOnce(cause, () => message, "warn"),
        });
        if (!life.defer(() => guarded.stop())) return;
        mixers.set(destination, guarded);
      }
    }
    if (this.connection) {
      const connection = this.connection;
      const lease = connection.acquire(this.name);
      const off = connection.onClose((reason) => this.closeSink(reason));
      const released = life.defer(async () => {
        off();
        await withDeadline(
          this.clock,
          lease.release(),
          this.params.closeTimeoutMs,
          `${this.name}: releasing the connection`,
        );
      });
      if (!released) return;
    }
    if (!life.defer((reason) => this.#close(reason as OutputCloseReason))) return;
    const opening = withDeadline(
      this.clock,
      () => this.open({ destinations, format, signal: life.signal }),
      this.params.openTimeoutMs,
      `${this.name}: open()`,
      life.signal,
    ).catch((error: unknown) => {
      if (life.closed) throw error;
      throw new OutputOpenError(`${this.name} could not open its sink: ${describe(error)}`, {
        cause: error,
      });
    });
    this.#opened = opening.then(
      () => true,
      () => false,
    );
    try {
      await Promise.all([
        opening,
        // Loaded now so the first audio at another rate is not held up mid-stream.
        format
          ? withDeadline(
              this.clock,
              this.clock.track(loadSpeexModule()),
              this.params.openTimeoutMs,
              "loading the resampler",
              life.signal,
            )
          : undefined,
        ...[...mixers.values()].map((m) => m.start(rate, this.params.audioOutChannels, life.signal)),
      ]);
    } catch (error) {
      if (life.closed) return; // cancelled or torn down while starting: the lifetime disposed what was made
      await this.pushError(error as Error, { fatal: true });
      return;
    }
    for (const destination of destinations) {
      const sender = this.#createSender(destination, format, mixers.get(destination));
      if (!sender) return; // closed meanwhile: it was cancelled at once and never started
      if (this.#sinkClosedReason !== undefined) sender.closeSink(this.#sinkClosedReason);
      sender.start();
    }
  }

  protected override async end(_frame: EndFrame): Promise<void> {
    await Promise.all([...this.#senders.values()].map((s) => s.end(this.params.audioOutEndSilenceMs)));
    // A cancel that overtook the end (its senders' cancel settles their end) closes, as a cancel,
    // after its last words: closing here would close as an end (running what only an end runs,
    // a transport's hooks before its end close) and could close before the last words are out.
    if (this.#cancelling) return;
    await this.#life.close("end");
  }

  protected override async cancel(frame: CancelFrame): Promise<void> {
    this.#cancelling = true;
    if (frame.lastWords.length > 0) {
      // The senders stop first (their queued audio is dropped, as on any cancel; the lifetime
      // finishes stopping them), so the last words are the last thing written to the client.
      for (const sender of this.#senders.values()) void sender.cancel().catch(() => undefined);
      await this.#sayLastWords(frame);
    }
    await this.#life.close("cancel");
  }

  protected override async cleanup(): Promise<void> {
    await this.#life.close("teardown");
    this.#errors.flush();
  }

  override processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): void | Promise<void> {
    if (direction === FrameDirection.UPSTREAM) return super.processFrame(frame, direction);
    if (frame instanceof SystemFrame) {
      if (frame instanceof InterruptionFrame) {
        for (const s of this.#senders.values()) s.interrupt();
      } else if (frame instanceof OutputTransportMessageUrgentFrame) {
        const sender = this.#senderFor(frame);
        return sender ? sender.enqueueUrgent(frame) : this.#deliver(frame);
      }
      return super.processFrame(frame, direction);
    }
    if (this.#senders.size === 0) {
      // Not started (a failed start): audio passes on unplayed, other frames take the usual last step.
      return frame instanceof OutputAudioRawFrame
        ? super.processFrame(frame, direction)
        : this.#deliver(frame);
    }
    const sender = this.#senderFor(frame);
    if (!sender) return;
    if (!this.#format && (frame instanceof OutputAudioRawFrame || frame instanceof MixerControlFrame)) {
      return super.processFrame(frame, direction); // audio output is off: not ours to play or mix
    }
    if (frame instanceof MixerControlFrame) return sender.controlMixer(frame);
    if (frame instanceof OutputAudioRawFrame) return sender.enqueueAudio(frame, signal);
    return sender.enqueue(frame, this.#checkedPts(frame));
  }

  // ---------------------------------------------------------------- internals

  #createSender(
    destination: string,
    format: OutputFormat | undefined,
    mixer: GuardedMixer | undefined,
  ): MediaSender | undefined {
    let pacer: Pacer | undefined;
    if (format) {
      const timing: PacerTiming = {
        clock: this.clock,
        chunkMs: format.chunkMs,
        maxCatchUpChunks: this.params.audioOutMaxCatchUpChunks,
      };
      pacer = new PaceLimiter(this.createPacer(timing, destination), timing);
    }
    const target = destination || undefined;
    const sender = new MediaSender(
      {
        clock: this.clock,
        logger: this.logger,
        name: this.#destinationName(destination),
        writeAudio: (f) => this.writeAudio(f, target),
        deliver: (f) => this.#deliver(f),
        clearClient: () => this.clearClientBuffer(target),
        pushPlayed: (f) => this.pushFrame(f, FrameDirection.DOWNSTREAM),
        broadcast: (make) => void this.broadcastFrame(make),
        error: (message) => void this.pushError(message),
        progress: () => this.context?.reportProgress(),
        sinkLost: (reason) => this.#sinkLost(reason),
      },
      {
        format,
        pacer,
        mixer,
        maxQueuedMs: this.params.audioOutMaxQueuedMs,
        writeTimeoutMs: this.params.audioOutWriteTimeoutMs,
        botSpeakingFallbackMs: this.params.botSpeakingFallbackMs,
      },
    );
    const registered = this.#life.defer(async () => {
      await sender.cancel();
      sender.dispose();
      this.#senders.delete(destination);
    });
    if (!registered) return undefined;
    this.#senders.set(destination, sender);
    return sender;
  }

  /**
   * The one last step of every non-audio frame whose turn came: written to the client, then
   * (unless it is a transport message, which is for the client only) pushed on.
   */
  async #deliver(frame: Frame): Promise<void> {
    if (!this.#clientStalled) {
      try {
        await withDeadline(
          this.clock,
          () => this.writeFrame(frame),
          this.params.audioOutWriteTimeoutMs,
          `${this.name}: writeFrame(${frame.name})`,
        );
      } catch (error) {
        this.#errors.reportOnce(
          "writeFrame",
          () => `${this.name}: writeFrame failed: ${describe(error)}`,
          "warn",
        );
        if (error instanceof DeadlineExceededError) {
          // A client that does not take a frame in time is gone: stop writing to it (frames
          // still go on downstream), instead of stalling every later frame by the deadline.
          this.#clientStalled = true;
          this.#sinkLost("writeFrame stalled");
        }
      }
    }
    if (frame instanceof OutputTransportMessageFrame || frame instanceof OutputTransportMessageUrgentFrame)
      return;
    await this.pushFrame(frame, FrameDirection.DOWNSTREAM);
  }

  /**
   * The cancel's last words (`CancelFrame.lastWords`: a fatal error told to the client in its
   * protocol), written with `writeFrame` before the sink closes: even when the output never got
   * to play (a fatal error while the pipeline starts), as long as `open()` succeeded (waited for
   * if it is still running). All within `closeTimeoutMs`. A sink that is closed (the client left),
   * stalled or never opened says nothing, and that is not an error.
   */
  async #sayLastWords(frame: CancelFrame): Promise<void> {
    const words = frame.lastWords;
    const opened = this.#opened;
    if (words.length === 0 || opened === undefined) return;
    try {
      await withDeadline(
        this.clock,
        async () => {
          if (!(await opened)) return;
          for (const message of words) {
            if (this.sinkClosed || this.#clientStalled) return;
            await this.writeFrame(message);
          }
        },
        this.params.closeTimeoutMs,
        `${this.name}: writing the cancel's last words (closeTimeoutMs)`,
      );
    } catch (error) {
      this.logger.warn(`${describe(error)}; the client may not have got them; closing anyway`, {
        processor: this.name,
      });
    }
  }

  async #close(reason: OutputCloseReason): Promise<void> {
    try {
      await withDeadline(
        this.clock,
        () => this.close(reason),
        this.params.closeTimeoutMs,
        `${this.name}: close()`,
      );
    } catch (error) {
      this.#errors.reportOnce(
        "close",
        () => `${this.name}: close(${reason}) failed: ${describe(error)}`,
        "warn",
      );
    }
  }

  /** A frame's pts if it is usable; a non-finite one is reported once and ignored (the frame goes in order). */
  #checkedPts(frame: Frame): number | undefined {
    const pts = frame.pts;
    if (pts === undefined || Number.isFinite(pts)) return pts;
    this.#errors.reportOnce(
      "pts",
      () =>
        `${this.name}: ${frame.name} has pts ${String(pts)}, which is not a time; frames with a non-finite pts ` +
        "are sent in order, as if they had none (set pts to a number of ms on the task clock)",
      "warn",
    );
    return undefined;
  }

  #destinationName(destination: string): string {
    return destination ? `${this.name}[${destination}]` : this.name;
  }

  /** Frames dropped because their `transportDestination` is not an output destination. */
  get unknownDestinationFrames(): number {
    return this.#unknownDestinationFrames;
  }

  #senderFor(frame: Frame): MediaSender | undefined {
    const destination = frame.transportDestination ?? DEFAULT_DESTINATION;
    const sender = this.#senders.get(destination);
    if (!sender && this.#senders.size > 0 && this.#unknownDestinationFrames++ === 0) {
      // Said once, for the first unknown name; the rest are counted (a set of every name seen
      // would grow with whatever a client sends).
      void this.pushError(
        `${this.name}: no output destination "${destination}" (known: ${[...this.#senders.keys()].map((d) => JSON.stringify(d)).join(", ")}); ` +
          "add it to TransportParams.audioOutDestinations. Frames for unknown destinations are dropped " +
          "and counted in unknownDestinationFrames.",
      );
    }
    return sender;
  }
}

/** The output could not open its sink (a fatal error: nothing could be played). */
export class OutputOpenError extends VoicepipeError {
  readonly code = "VP_OUTPUT_OPEN";
}

/** Refuses a subclass that overrides a lifecycle hook the base runs itself. */
function checkSealed(instance: BaseOutputTransport, className: string): void {
  for (
    let proto: unknown = Object.getPrototypeOf(instance);
    proto && proto !== BaseOutputTransport.prototype;
  ) {
    for (const hook of SEALED) {
      if (Object.prototype.hasOwnProperty.call(proto, hook)) {
        throw new TransportDefinitionError(
          `${className} overrides ${hook}(), which BaseOutputTransport runs itself (a subclass that forgets to call ` +
            "super turns the output into a pass-through). Implement the verbs instead: open(), close(), " +
            "writeAudio(), writeFrame(), clearClientBuffer()",
        );
      }
    }
    proto = Object.getPrototypeOf(proto);
  }
}
