import { AudioConverter } from "../audio/audio-converter.js";
import { interleave, mixAudio } from "../audio/pcm.js";
import { writeWav } from "../audio/wav.js";
import { InvalidOptionError, describe } from "../errors.js";
import { InputAudioRawFrame, OutputAudioRawFrame } from "../frames/audio.js";
import { type Frame, FrameDirection } from "../frames/frame.js";
import type { CancelFrame, EndFrame, StartFrame } from "../frames/lifecycle.js";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../frames/speaking.js";
import { SampleList } from "../audio/sample-list.js";
import { RepeatReporter } from "../reporting/repeat-reporter.js";
import { FrameProcessor, type FrameProcessorEvents, type FrameProcessorOptions } from "./frame-processor.js";

/** Options of {@link AudioBufferProcessor}. Every duration is in ms of the task clock. */
export interface AudioBufferProcessorOptions extends Omit<FrameProcessorOptions, "direct"> {
  /**
   * Sample rate of the recording, in Hz. Audio at any other rate is converted with a streaming
   * resampler (one per track). @default the pipeline's output rate (`StartFrame` params)
   */
  sampleRate?: number;
  /** 1: user and bot mixed into one channel (with clipping); 2: user left, bot right. @default 1 */
  numChannels?: 1 | 2;
  /**
   * Emit `audioData` each time this many bytes of recording (both tracks merged, PCM16) are
   * complete, then start over; a value that is not a whole number of sample frames is rounded
   * down to one. 0 keeps the recording until `stopRecording()`, `EndFrame` or `CancelFrame`
   * (and {@link maxBufferMs}). @default 0
   */
  bufferSizeBytes?: number;
  /**
   * Hard cap on what one buffer may hold, whatever `bufferSizeBytes` says: once both tracks
   * hold this much, it is emitted (`audioData` of exactly this length) and the buffer starts
   * over; a turn that reaches it is emitted in pieces of it. So memory stays bounded in a call
   * of any length: at the default rate of 24 kHz, 10 minutes is 28.8 MB per track. (A track
   * fed faster than real time may run up to twice the cap ahead of the other before it is
   * emitted against silence.) Raise it to get a long call in one `audioData` event.
   * @default 600000 (10 minutes)
   */
  maxBufferMs?: number;
  /** Emit `userTurnAudio` and `botTurnAudio` with each turn's audio. @default false */
  enableTurnAudio?: boolean;
  /**
   * User audio heard just before `UserStartedSpeakingFrame` that is put at the head of the
   * user's turn audio. The turn starts once the VAD (and turn strategy) have confirmed speech,
   * some 200 ms after the first word; without pre-roll the turn's audio would lose it.
   * @default 500
   */
  turnPrerollMs?: number;
  /** Start recording when the pipeline starts; otherwise call `startRecording()`. @default true */
  autoStart?: boolean;
  /**
   * How far a track's continuous audio may fall behind the task clock (late delivery,
   * scheduling jitter) before silence is inserted to bring it back in line. Silence is never
   * inserted for a smaller lag, so a stream that arrives a little unevenly is not chopped up;
   * audio that follows a pause is always placed exactly at its clock time.
   * @default 50
   */
  jitterToleranceMs?: number;
}

/** Events of {@link AudioBufferProcessor}. Audio arrays are fresh copies the handler may keep. */
export interface AudioBufferProcessorEvents extends FrameProcessorEvents {
  /**
   * A piece of the recording: `numChannels` interleaved channels (mono: user + bot mixed;
   * stereo: user left, bot right) at `sampleRate`. Pieces follow each other without gap or
   * overlap until recording stops; then the next recording starts a new sequence.
   */
  audioData: (audio: Int16Array, sampleRate: number, numChannels: number) => void;
  /** The same stretch as the `audioData` emitted just before, as two mono tracks of equal length. */
  trackAudioData: (user: Int16Array, bot: Int16Array, sampleRate: number) => void;
  /** A user turn's audio (mono, `numChannels` = 1), from the pre-roll to `UserStoppedSpeakingFrame`. */
  userTurnAudio: (audio: Int16Array, sampleRate: number, numChannels: number) => void;
  /** A bot turn's audio (mono), from `BotStartedSpeakingFrame` to `BotStoppedSpeakingFrame`. */
  botTurnAudio: (audio: Int16Array, sampleRate: number, numChannels: number) => void;
}

/** Audio for a track that waits while its resampler is created. */
interface PendingAudio {
  readonly audio: Int16Array;
  readonly rate: number;
  readonly channels: number;
  /** Where the audio starts, in ms of the task clock. */
  readonly startMs: number;
}

/** One recorded track (user or bot), mono at the recording rate. */
interface Track {
  readonly name: "user" | "bot";
  readonly samples: SampleList;
  /** Timeline position (samples since the recording started) where the last real audio ended; -1: none yet. */
  audioEnd: number;
  /**
   * To mono at the recording rate, dropping the resampler's start-up so resampled audio keeps its
   * place (created at the start).
   */
  converter: AudioConverter | undefined;
  /** Frames waiting for a resampler, in arrival order (so nothing overtakes them). */
  readonly pending: PendingAudio[];
  draining: Promise<void> | undefined;
  /** Rates whose resampler could not be created (reported once each). */
  readonly badRates: Set<number>;
}

/** Frames a track may hold while its resampler is created; the oldest go past it. */
const MAX_PENDING_FRAMES = 500;

/**
 * Records the conversation (Pipecat's `AudioBufferProcessor`): the user's track from the
 * `InputAudioRawFrame`s that flow downstream, and the bot's from the `OutputAudioRawFrame`s
 * (TTS audio included) that the output transport pushes downstream as it plays them. Place it
 * **after the output transport**: there the bot track is exactly what was played, in real time,
 * without the mixer's background sound or the end silence (the transport never pushes those),
 * and without audio dropped by an interruption.
 *
 * **Alignment.** The tracks share one timeline anchored at the task-clock time recording
 * started. User audio is placed so that it ends at its arrival time (an input frame is pushed
 * once captured; the first one may start before the timeline and is placed at its start), bot
 * audio so that it starts at its arrival time (the output pushes a chunk as it writes it).
 * Whenever audio arrives, a track that has fallen behind the clock (the bot not speaking, the
 * user muted) is padded with silence up to it, so a reply played 3 s after the user spoke sits
 * 3 s later in the recording. Audio that follows a pause lands exactly at its clock time;
 * continuous audio is only re-aligned once it lags by more than `jitterToleranceMs`. The
 * resampler's filter delay is compensated. Silence costs no memory until it is emitted. Audio
 * delivered faster than real time (a test, a file) runs ahead of the clock on its track and is
 * kept, never cut.
 *
 * **Output.** With `bufferSizeBytes` > 0, `audioData` fires each time that much of the merged
 * recording is complete on both tracks; otherwise the recording is held until it stops. Either
 * way a recording longer than `maxBufferMs` comes in pieces of that length. `stopRecording()`,
 * `EndFrame` and `CancelFrame` pad both tracks to the clock and emit what is left, including
 * the turns in progress. Each `audioData` is followed by `trackAudioData` with the same stretch
 * as separate tracks. Use {@link recordingToWav} to make a WAV file of either. Events fire in
 * the call that pushed the frame completing the buffer (handlers must not do slow work
 * synchronously; the merge itself costs about a millisecond per 10 s of audio).
 *
 * **Turns** (`enableTurnAudio`): `userTurnAudio` carries the user audio between
 * `UserStartedSpeakingFrame` and `UserStoppedSpeakingFrame` (plus `turnPrerollMs` before it),
 * `botTurnAudio` the bot audio between `BotStartedSpeakingFrame` and `BotStoppedSpeakingFrame`;
 * both as received, without alignment padding, and only while recording. Only downstream
 * speaking frames count (the upstream twins of broadcasts are ignored).
 *
 * Guarantees: every frame is forwarded, unchanged and at once (the processor runs in direct
 * mode: recording is a copy in the pusher's call, so it also sees frames in exactly the order
 * they were pushed, and an interruption cannot drop played audio before it is recorded); time
 * comes only from the task clock; each track holds at most `maxBufferMs` of aligned audio (twice
 * that for a track fed faster than real time), each turn at most `maxBufferMs`. Not
 * guaranteed: alignment finer than the jitter tolerance; multi-channel input and output are
 * averaged to mono per track.
 *
 * @example
 * const recorder = new AudioBufferProcessor({ numChannels: 2, bufferSizeBytes: 0 });
 * recorder.on("audioData", (audio, rate, channels) =>
 *   void writeFile("call.wav", recordingToWav(audio, rate, channels)));
 * const pipeline = new Pipeline([transport.input(), stt, llm, tts, transport.output(), recorder]);
 */
export class AudioBufferProcessor extends FrameProcessor<AudioBufferProcessorEvents> {
  /** Channels of `audioData`: 1 (mixed) or 2 (user left, bot right). */
  readonly numChannels: 1 | 2;
  /** `bufferSizeBytes` as given (0: keep until stopped). */
  readonly bufferSizeBytes: number;
  /** Cap on each buffer, in ms. */
  readonly maxBufferMs: number;
  /** Whether turn audio events are emitted. */
  readonly enableTurnAudio: boolean;
  /** Pre-roll of user turns, in ms. */
  readonly turnPrerollMs: number;
  /** Lag tolerated on continuous audio before re-alignment, in ms. */
  readonly jitterToleranceMs: number;
  readonly #requestedRate: number | undefined;
  readonly #autoStart: boolean;

  #rate = 0;
  #bufferSamples = 0;
  #capSamples = 0;
  #jitterSamples = 0;
  #prerollSamples = 0;
  /** Started (rates known) and not yet ended or cancelled. */
  #open = false;
  #recording = false;
  /** `startRecording()` was called before the pipeline started. */
  #wanted = false;
  #stopping: Promise<void> | undefined;
  /** Task-clock time the recording's timeline starts at. */
  #originMs = 0;
  /** Samples per track already emitted: the timeline position of the buffers' first sample. */
  #emitted = 0;
  readonly #user = newTrack("user");
  readonly #bot = newTrack("bot");
  readonly #preroll = new SampleList();
  #userTurn: SampleList | undefined;
  #botTurn: SampleList | undefined;
  readonly #repeats: RepeatReporter;

  constructor(options: AudioBufferProcessorOptions = {}) {
    super({ ...options, direct: true });
    const rate = options.sampleRate;
    if (rate !== undefined && (!Number.isInteger(rate) || rate < 1000 || rate > 768_000)) {
      throw new InvalidOptionError(
        `AudioBufferProcessor: sampleRate must be an integer in Hz from 1000 to 768000 (got ${rate}), ` +
          "or left out to record at the pipeline's output rate",
      );
    }
    const channels = options.numChannels ?? 1;
    if (channels !== 1 && channels !== 2) {
      throw new InvalidOptionError(
        `AudioBufferProcessor: numChannels must be 1 (mixed) or 2 (user left, bot right) (got ${String(channels)})`,
      );
    }
    this.#requestedRate = rate;
    this.numChannels = channels;
    this.bufferSizeBytes = checkNumber("bufferSizeBytes", options.bufferSizeBytes ?? 0, 0);
    if (this.bufferSizeBytes > 0 && this.bufferSizeBytes < 2 * channels) {
      throw new InvalidOptionError(
        `AudioBufferProcessor: bufferSizeBytes must be 0 or at least one sample frame (${2 * channels} bytes) (got ${this.bufferSizeBytes})`,
      );
    }
    this.maxBufferMs = checkNumber("maxBufferMs", options.maxBufferMs ?? 600_000, 1);
    this.enableTurnAudio = options.enableTurnAudio ?? false;
    this.turnPrerollMs = checkNumber("turnPrerollMs", options.turnPrerollMs ?? 500, 0);
    this.jitterToleranceMs = checkNumber("jitterToleranceMs", options.jitterToleranceMs ?? 50, 0);
    this.#autoStart = options.autoStart ?? true;
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => (this.context ? this.clock.now() : 0),
    });
  }

  /** Sample rate of the recording in Hz (0 until the pipeline has started, unless set). */
  get sampleRate(): number {
    return this.#rate || (this.#requestedRate ?? 0);
  }

  /** Whether audio is being recorded. */
  get recording(): boolean {
    return this.#recording;
  }

  /** Audio held in the longer track's buffer, in ms (what the next emission will at least cover). */
  get bufferedMs(): number {
    if (!this.#rate) return 0;
    return (Math.max(this.#user.samples.length, this.#bot.samples.length) * 1000) / this.#rate;
  }

  /**
   * Starts recording now (the timeline starts at the current task-clock time). Called before
   * the pipeline has started, recording starts with it. Does nothing while recording or once
   * the pipeline has ended.
   */
  startRecording(): void {
    if (this.#recording) return;
    if (!this.#open) {
      if (this.state === "created" || this.state === "ready" || this.state === "running") this.#wanted = true;
      return;
    }
    this.#originMs = this.clock.now();
    this.#emitted = 0;
    for (const track of [this.#user, this.#bot]) {
      track.samples.clear();
      track.audioEnd = -1;
    }
    this.#preroll.clear();
    this.#userTurn = undefined;
    this.#botTurn = undefined;
    this.#recording = true;
  }

  /**
   * Stops recording and emits what is buffered: both tracks padded with silence up to the
   * current task-clock time, then `audioData`/`trackAudioData`, and the turns in progress.
   * Resolves once emitted (audio waiting for a resampler is included). Idempotent.
   */
  stopRecording(): Promise<void> {
    this.#wanted = false;
    if (this.#stopping) return this.#stopping;
    if (!this.#recording) return Promise.resolve();
    this.#stopping = (async () => {
      try {
        await this.#settlePending();
        if (this.#recording) this.#flush(); // unless a cancel flushed meanwhile
      } finally {
        this.#recording = false;
        this.#stopping = undefined;
      }
    })();
    return this.#stopping;
  }

  override processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): void | Promise<void> {
    if (this.#recording && direction === FrameDirection.DOWNSTREAM) {
      try {
        this.#record(frame);
      } catch (error) {
        // A recording problem never holds a frame back, and is said once per cause, not per frame.
        const message = `${this.name}: could not record ${frame.constructor.name}: ${describe(error)}`;
        if (this.#repeats.occurred(`record:${describe(error)}`, message)) void this.pushError(message);
      }
    }
    return super.processFrame(frame, direction, signal);
  }

  protected override async start(frame: StartFrame): Promise<void> {
    const rate = this.#requestedRate ?? frame.params.audioOutSampleRate;
    this.#rate = rate;
    this.#bufferSamples = Math.floor(this.bufferSizeBytes / (2 * this.numChannels));
    this.#capSamples = Math.max(1, Math.round((this.maxBufferMs * rate) / 1000));
    this.#jitterSamples = Math.round((this.jitterToleranceMs * rate) / 1000);
    this.#prerollSamples = Math.round((this.turnPrerollMs * rate) / 1000);
    for (const track of [this.#user, this.#bot]) {
      track.converter = new AudioConverter({ outRate: rate, clock: this.clock, dropStartup: true });
    }
    // Resamplers for the rates the pipeline announces, so the first frames need not wait.
    await Promise.all([
      this.#user.converter!.prepare(frame.params.audioInSampleRate, 1).catch(() => {}),
      this.#bot.converter!.prepare(frame.params.audioOutSampleRate, 1).catch(() => {}),
    ]);
    this.#open = true;
    if (this.#autoStart || this.#wanted) this.startRecording();
    this.#wanted = false;
  }

  protected override async end(_frame: EndFrame): Promise<void> {
    await this.stopRecording();
    this.#open = false;
    this.#repeats.flush();
  }

  protected override cancel(_frame: CancelFrame): void {
    // Stop now: audio still waiting for a resampler is dropped, the rest is emitted.
    this.#open = false;
    for (const track of [this.#user, this.#bot]) track.pending.length = 0;
    if (this.#recording) this.#flush();
    this.#recording = false;
    this.#repeats.flush();
  }

  protected override cleanup(): void {
    this.#open = false;
    this.#recording = false;
    for (const track of [this.#user, this.#bot]) {
      track.pending.length = 0;
      track.samples.clear();
      track.converter?.dispose();
      track.converter = undefined;
    }
    this.#repeats.flush();
    this.#preroll.clear();
    this.#userTurn = undefined;
    this.#botTurn = undefined;
  }

  // ---------------------------------------------------------------- recording

  #record(frame: Frame): void {
    if (frame instanceof InputAudioRawFrame) {
      this.#offer(
        this.#user,
        frame.audio,
        frame.sampleRate,
        frame.numChannels,
        this.clock.now() - frame.durationMs,
      );
    } else if (frame instanceof OutputAudioRawFrame) {
      this.#offer(this.#bot, frame.audio, frame.sampleRate, frame.numChannels, this.clock.now());
    } else if (!this.enableTurnAudio) {
      return;
    } else if (frame instanceof UserStartedSpeakingFrame) {
      if (this.#userTurn) return; // already in a turn: keep collecting it
      this.#userTurn = new SampleList();
      this.#userTurn.appendAll(this.#preroll);
    } else if (frame instanceof UserStoppedSpeakingFrame) {
      this.#endTurn("userTurnAudio");
    } else if (frame instanceof BotStartedSpeakingFrame) {
      this.#botTurn ??= new SampleList();
    } else if (frame instanceof BotStoppedSpeakingFrame) {
      this.#endTurn("botTurnAudio");
    }
  }

  /** Takes a frame's audio for `track`: at once when no resampler has to be created first. */
  #offer(track: Track, audio: Int16Array, rate: number, channels: number, startMs: number): void {
    const converter = track.converter;
    if (!converter || track.badRates.has(rate)) return;
    if (track.pending.length === 0 && converter.accepts(rate, channels)) {
      this.#place(track, this.#convert(converter, audio, rate, channels), startMs);
      return;
    }
    if (track.pending.length >= MAX_PENDING_FRAMES) track.pending.shift();
    track.pending.push({ audio, rate, channels, startMs });
    track.draining ??= this.#drain(track).finally(() => {
      track.draining = undefined;
    });
  }

  /** Places pending audio in order, creating the resamplers it needs. */
  async #drain(track: Track): Promise<void> {
    while (track.pending.length > 0) {
      const next = track.pending[0]!;
      const converter = track.converter;
      if (!converter) {
        track.pending.length = 0; // torn down
        return;
      }
      if (!converter.accepts(next.rate, next.channels)) {
        try {
          await converter.prepare(next.rate, next.channels);
        } catch (error) {
          track.badRates.add(next.rate);
          for (let i = track.pending.length - 1; i >= 0; i--)
            if (track.pending[i]!.rate === next.rate) track.pending.splice(i, 1);
          void this.pushError(
            `${this.name}: ${track.name} audio at ${next.rate} Hz cannot be resampled to ${this.#rate} Hz ` +
              `and is not recorded: ${describe(error)}`,
          );
          continue;
        }
        if (
          !this.#recording ||
          track.converter !== converter ||
          !converter.accepts(next.rate, next.channels)
        ) {
          track.pending.length = 0; // stopped, or torn down while the resampler was made
          return;
        }
        continue; // the list may have changed while waiting
      }
      track.pending.shift();
      this.#place(track, this.#convert(converter, next.audio, next.rate, next.channels), next.startMs);
    }
  }

  async #settlePending(): Promise<void> {
    while (this.#user.draining || this.#bot.draining) {
      await Promise.all([this.#user.draining, this.#bot.draining]);
    }
  }

  /** A frame's audio → a fresh mono array at the recording rate (the track keeps it). */
  #convert(converter: AudioConverter, audio: Int16Array, rate: number, channels: number): Int16Array {
    const out = converter.convert(audio, rate, channels);
    return out === audio ? audio.slice() : out;
  }

  /** Timeline position (samples since the recording started) of task-clock time `ms`. */
  #position(ms: number): number {
    return Math.max(0, Math.round(((ms - this.#originMs) * this.#rate) / 1000));
  }

  #end(track: Track): number {
    return this.#emitted + track.samples.length;
  }

  /** Appends audio to its track at its clock time, then brings the other track up to the clock. */
  #place(track: Track, audio: Int16Array, startMs: number): void {
    const gap = this.#position(startMs) - this.#end(track);
    // A track that ends in silence (or has no audio yet) is padded exactly; one that ends in
    // audio only when it lags by more than the jitter tolerance.
    if (gap > 0 && (track.audioEnd !== this.#end(track) || gap > this.#jitterSamples)) {
      track.samples.pad(gap);
    }
    track.samples.append(audio);
    track.audioEnd = this.#end(track);
    this.#catchUp(track === this.#user ? this.#bot : this.#user, this.clock.now(), this.#jitterSamples);

    if (this.enableTurnAudio) {
      if (track === this.#user) {
        if (this.#prerollSamples > 0) {
          this.#preroll.append(audio);
          this.#preroll.keepLast(this.#prerollSamples);
        }
        if (this.#userTurn) this.#appendTurn(this.#userTurn, audio, "userTurnAudio");
      } else if (this.#botTurn) {
        this.#appendTurn(this.#botTurn, audio, "botTurnAudio");
      }
    }
    this.#emitDue();
  }

  /** Pads `track` with silence up to clock time `ms` if it lags by more than `tolerance` samples. */
  #catchUp(track: Track, ms: number, tolerance: number): void {
    const gap = this.#position(ms) - this.#end(track);
    if (gap > tolerance) track.samples.pad(gap);
  }

  #appendTurn(turn: SampleList, audio: Int16Array, event: "userTurnAudio" | "botTurnAudio"): void {
    turn.append(audio);
    while (turn.length >= this.#capSamples) this.emit(event, turn.take(this.#capSamples), this.#rate, 1);
  }

  #endTurn(event: "userTurnAudio" | "botTurnAudio"): void {
    const turn = event === "userTurnAudio" ? this.#userTurn : this.#botTurn;
    if (event === "userTurnAudio") this.#userTurn = undefined;
    else this.#botTurn = undefined;
    if (turn && turn.length > 0) this.emit(event, turn.take(turn.length), this.#rate, 1);
  }

  /**
   * Emits the complete stretches due: pieces of `bufferSizeBytes` (or of `maxBufferMs`, the
   * smaller) once both tracks hold them. A track running ahead of the other (audio delivered
   * faster than real time) is emitted against silence once it holds twice the cap.
   */
  #emitDue(): void {
    const user = this.#user.samples;
    const bot = this.#bot.samples;
    const piece =
      this.#bufferSamples > 0 ? Math.min(this.#bufferSamples, this.#capSamples) : this.#capSamples;
    while (Math.min(user.length, bot.length) >= piece) this.#emitMerged(piece);
    while (Math.max(user.length, bot.length) >= 2 * this.#capSamples) {
      user.pad(this.#capSamples - user.length);
      bot.pad(this.#capSamples - bot.length);
      this.#emitMerged(this.#capSamples);
    }
  }

  #emitMerged(samples: number): void {
    const user = this.#user.samples.take(samples);
    const bot = this.#bot.samples.take(samples);
    this.#emitted += samples;
    const audio = this.numChannels === 1 ? mixAudio(user, bot) : interleave([user, bot]);
    this.emit("audioData", audio, this.#rate, this.numChannels);
    this.emit("trackAudioData", user, bot, this.#rate);
  }

  /** Emits everything: resampler tails, both tracks padded to the clock, the turns in progress. */
  #flush(): void {
    for (const track of [this.#user, this.#bot]) {
      const tail = track.converter?.flush();
      // Right after the track's last audio (position 0 never lies ahead of it).
      if (tail && tail.length > 0) this.#place(track, tail, Number.NEGATIVE_INFINITY);
    }
    const now = this.clock.now();
    this.#catchUp(this.#user, now, 0);
    this.#catchUp(this.#bot, now, 0);
    const user = this.#user.samples;
    const bot = this.#bot.samples;
    const length = Math.max(user.length, bot.length);
    user.pad(length - user.length);
    bot.pad(length - bot.length);
    while (user.length > 0) this.#emitMerged(Math.min(user.length, this.#capSamples));
    if (this.enableTurnAudio) {
      this.#endTurn("userTurnAudio");
      this.#endTurn("botTurnAudio");
    }
    this.#preroll.clear();
  }
}

/**
 * Encodes a recording (an `audioData`, `userTurnAudio` or `botTurnAudio` payload) as a 16-bit
 * PCM WAV file. The arguments are those of the events, so a handler can pass them straight on.
 *
 * @example
 * recorder.on("audioData", (audio, rate, channels) =>
 *   void writeFile(`call-${n++}.wav`, recordingToWav(audio, rate, channels)));
 */
export function recordingToWav(audio: Int16Array, sampleRate: number, numChannels = 1): Uint8Array {
  return writeWav({ audio, sampleRate, numChannels });
}

function newTrack(name: "user" | "bot"): Track {
  return {
    name,
    samples: new SampleList(),
    audioEnd: -1,
    converter: undefined,
    pending: [],
    draining: undefined,
    badRates: new Set(),
  };
}

function checkNumber(option: string, value: number, min: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(
      `AudioBufferProcessor: ${option} must be a finite number ≥ ${min} (got ${String(value)})`,
    );
  }
  return value;
}
