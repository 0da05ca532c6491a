/**
 * The echo bot's "brain": it records what the user says in each turn and, when the turn ends,
 * says "You said:" and plays the recording back. It stands where speech-to-text, an LLM and
 * text-to-speech go in a real assistant, and it produces the same frames a TTS service does
 * (TTSStartedFrame, TTSAudioRawFrame, TTSStoppedFrame, and a BotOutputFrame for the transcript),
 * so barge-in, RTVI events and the output transport behave as they will with real providers.
 */
import {
  BotOutputFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  InputAudioRawFrame,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../src/index.js";

/** A clip of mono PCM16 audio. */
export interface AudioClip {
  readonly audio: Int16Array;
  readonly sampleRate: number;
}

/** Options of {@link EchoProcessor}. */
export interface EchoOptions {
  /** Said before each echo ("You said:"). */
  announcement: AudioClip;
  /**
   * Audio from just before the turn started that is put at the head of the echo: the VAD
   * confirms speech some 200–300 ms after the first word. @default 400
   */
  prerollMs?: number;
  /** Longest echo; the rest of a longer turn is not recorded. @default 10000 */
  maxUtteranceMs?: number;
  /** Turns shorter than this (a cough, a click) are not echoed. @default 300 */
  minUtteranceMs?: number;
}

/**
 * Records each user turn (between `UserStartedSpeakingFrame` and `UserStoppedSpeakingFrame`)
 * and echoes it. The user's audio is consumed here (nothing after this processor needs it).
 * Memory is bounded by `prerollMs + maxUtteranceMs` of audio, whatever the session's length.
 *
 * The audio is copied out of its frames as it arrives, into a ring for the pre-roll and fixed
 * blocks for the turn, reused turn after turn: holding the frames themselves for a turn (a frame
 * and its samples every 20 ms, for seconds) made them outlive the young generation, so every
 * scavenge copied them and they filled the old one (with a hundred sessions, most of what the
 * garbage collector did). Audio at a rate other than the turn's first, or not mono, is skipped.
 */
export class EchoProcessor extends FrameProcessor {
  /** Turns echoed so far. */
  echoes = 0;
  readonly #announcement: AudioClip;
  readonly #prerollMs: number;
  readonly #maxUtteranceMs: number;
  readonly #minUtteranceMs: number;
  /** The recording's sample rate: the first mono audio's, until a different rate resets it. */
  #sampleRate = 0;
  /** The last `prerollMs` of audio heard while the user is not speaking. */
  #preroll = new SampleRing(0);
  /** The current turn's audio (pre-roll first). */
  readonly #turn = new SampleBlocks();
  #inTurn = false;
  /** Audio heard since the turn started, pre-roll excluded: what minUtteranceMs is checked against. */
  #spokenMs = 0;

  constructor(options: EchoOptions) {
    super({ name: "echo" });
    this.#announcement = options.announcement;
    this.#prerollMs = options.prerollMs ?? 400;
    this.#maxUtteranceMs = options.maxUtteranceMs ?? 10_000;
    this.#minUtteranceMs = options.minUtteranceMs ?? 300;
  }

  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    if (direction === FrameDirection.DOWNSTREAM) {
      if (frame instanceof InputAudioRawFrame) return this.#hear(frame);
      if (frame instanceof UserStartedSpeakingFrame) this.#startTurn();
      else if (frame instanceof UserStoppedSpeakingFrame) await this.#endTurn();
    }
    await super.processFrame(frame, direction, signal);
  }

  #hear(frame: InputAudioRawFrame): void {
    const ms = frame.durationMs;
    if (ms === 0 || frame.numChannels !== 1) return; // nothing to hear, or not what the echo plays
    if (frame.sampleRate !== this.#sampleRate) {
      if (this.#inTurn && this.#turn.length > 0) return; // the turn keeps the rate it began with
      this.#sampleRate = frame.sampleRate;
      this.#preroll = new SampleRing(Math.round((this.#prerollMs / 1000) * frame.sampleRate));
      this.#turn.clear();
    }
    if (this.#inTurn) {
      if (this.#spokenMs + ms > this.#maxUtteranceMs) return;
      this.#turn.append(frame.audio);
      this.#spokenMs += ms;
      return;
    }
    this.#preroll.write(frame.audio);
  }

  #startTurn(): void {
    this.#inTurn = true;
    this.#spokenMs = 0;
    this.#turn.clear();
    this.#preroll.drainInto(this.#turn);
  }

  async #endTurn(): Promise<void> {
    const spokenMs = this.#spokenMs;
    const wasInTurn = this.#inTurn;
    this.#inTurn = false;
    this.#spokenMs = 0;
    // The turn's own audio, not the pre-roll: a click after a pause is not a turn to echo.
    if (!wasInTurn || spokenMs < this.#minUtteranceMs || this.#turn.length === 0) {
      this.#turn.clear();
      return;
    }
    const sampleRate = this.#sampleRate;
    const recording = this.#turn.take();
    this.echoes++;
    const seconds = (recording.length / sampleRate).toFixed(1);
    // Pushed in order, as a TTS service would: the transcript goes out in step with the audio.
    await this.pushFrame(new TTSStartedFrame());
    await this.pushFrame(new BotOutputFrame({ text: `You said: (${seconds} s of your voice, played back)` }));
    await this.pushFrame(new TTSAudioRawFrame(this.#announcement.audio, this.#announcement.sampleRate));
    await this.pushFrame(new TTSAudioRawFrame(recording, sampleRate));
    await this.pushFrame(new TTSStoppedFrame());
  }
}

/** Samples per block of {@link SampleBlocks}: one second at 16 kHz. */
const BLOCK_SAMPLES = 16_000;
/** Blocks kept for the next turn after one is taken (more are made again when a turn needs them). */
const BLOCKS_KEPT = 4;

/** PCM16 samples appended into fixed blocks, kept from turn to turn (up to {@link BLOCKS_KEPT}). */
class SampleBlocks {
  readonly #blocks: Int16Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  append(samples: Int16Array): void {
    let from = 0;
    while (from < samples.length) {
      const block = Math.floor(this.#length / BLOCK_SAMPLES);
      const at = this.#length % BLOCK_SAMPLES;
      if (block === this.#blocks.length) this.#blocks.push(new Int16Array(BLOCK_SAMPLES));
      const n = Math.min(BLOCK_SAMPLES - at, samples.length - from);
      this.#blocks[block]!.set(samples.subarray(from, from + n), at);
      from += n;
      this.#length += n;
    }
  }

  /** The samples, in one new array; the blocks are emptied for the next turn. */
  take(): Int16Array {
    const out = new Int16Array(this.#length);
    for (let i = 0, at = 0; at < this.#length; i++, at += BLOCK_SAMPLES) {
      const block = this.#blocks[i]!;
      out.set(this.#length - at >= BLOCK_SAMPLES ? block : block.subarray(0, this.#length - at), at);
    }
    this.clear();
    return out;
  }

  clear(): void {
    this.#length = 0;
    if (this.#blocks.length > BLOCKS_KEPT) this.#blocks.length = BLOCKS_KEPT;
  }
}

/** The last `capacity` PCM16 samples written. */
class SampleRing {
  readonly #samples: Int16Array;
  /** Where the next sample goes. */
  #next = 0;
  #filled = 0;

  constructor(readonly capacity: number) {
    this.#samples = new Int16Array(capacity);
  }

  write(samples: Int16Array): void {
    const cap = this.capacity;
    if (cap === 0) return;
    // Only the last `cap` samples can stay.
    const tail = samples.length > cap ? samples.subarray(samples.length - cap) : samples;
    const first = Math.min(tail.length, cap - this.#next);
    this.#samples.set(tail.subarray(0, first), this.#next);
    this.#samples.set(tail.subarray(first), 0);
    this.#next = (this.#next + tail.length) % cap;
    this.#filled = Math.min(cap, this.#filled + tail.length);
  }

  /** Appends what the ring holds, oldest first, to `to`, and empties it. */
  drainInto(to: SampleBlocks): void {
    const start = (this.#next - this.#filled + this.capacity) % Math.max(1, this.capacity);
    const first = Math.min(this.#filled, this.capacity - start);
    if (this.#filled > 0) {
      to.append(this.#samples.subarray(start, start + first));
      to.append(this.#samples.subarray(0, this.#filled - first));
    }
    this.#next = 0;
    this.#filled = 0;
  }
}
