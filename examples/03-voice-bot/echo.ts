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
 */
export class EchoProcessor extends FrameProcessor {
  /** Turns echoed so far. */
  echoes = 0;
  readonly #announcement: AudioClip;
  readonly #prerollMs: number;
  readonly #maxUtteranceMs: number;
  readonly #minUtteranceMs: number;
  /** The last `prerollMs` of audio heard while the user is not speaking. */
  #preroll: InputAudioRawFrame[] = [];
  #prerollHeldMs = 0;
  /** The current turn's audio (pre-roll first), or undefined between turns. */
  #turn: InputAudioRawFrame[] | undefined;
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
    if (ms === 0) return; // nothing to hear, and it would not count against the pre-roll's bound
    if (this.#turn) {
      if (this.#spokenMs + ms > this.#maxUtteranceMs) return;
      this.#turn.push(frame);
      this.#spokenMs += ms;
      return;
    }
    this.#preroll.push(frame);
    this.#prerollHeldMs += ms;
    while (this.#prerollHeldMs - (this.#preroll[0]?.durationMs ?? 0) >= this.#prerollMs) {
      this.#prerollHeldMs -= this.#preroll.shift()!.durationMs;
    }
  }

  #startTurn(): void {
    this.#turn = this.#preroll;
    this.#spokenMs = 0;
    this.#preroll = [];
    this.#prerollHeldMs = 0;
  }

  async #endTurn(): Promise<void> {
    const turn = this.#turn;
    const spokenMs = this.#spokenMs;
    this.#turn = undefined;
    this.#spokenMs = 0;
    // The turn's own audio, not the pre-roll: a click after a pause is not a turn to echo.
    if (!turn || spokenMs < this.#minUtteranceMs || turn.length === 0) return;
    const { sampleRate } = turn[0]!;
    const recording = joinAudio(turn.filter((f) => f.sampleRate === sampleRate && f.numChannels === 1));
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

function joinAudio(frames: readonly InputAudioRawFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.audio.length, 0));
  let at = 0;
  for (const frame of frames) {
    out.set(frame.audio, at);
    at += frame.audio.length;
  }
  return out;
}
