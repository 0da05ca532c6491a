import { DataFrame, SystemFrame } from "./frame.js";
import { VoicepipeError } from "../errors.js";

/** A frame's audio fields were inconsistent. */
export class InvalidAudioFrameError extends VoicepipeError {
  readonly code = "VP_INVALID_AUDIO_FRAME";
}

/** PCM audio: interleaved signed 16-bit samples. */
export interface AudioData {
  /** Interleaved PCM16 samples. */
  readonly audio: Int16Array;
  /** Samples per second per channel, in Hz. */
  readonly sampleRate: number;
  /** Interleaved channel count. */
  readonly numChannels: number;
}

function checkAudio(owner: string, audio: Int16Array, sampleRate: number, numChannels: number): void {
  if (!(audio instanceof Int16Array)) {
    throw new InvalidAudioFrameError(
      `${owner}: audio must be an Int16Array of PCM16 samples (got ${Object.prototype.toString.call(audio)}); ` +
        "convert a Buffer with new Int16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2)",
    );
  }
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new InvalidAudioFrameError(
      `${owner}: sampleRate must be a positive integer in Hz (got ${sampleRate})`,
    );
  }
  if (!Number.isInteger(numChannels) || numChannels < 1) {
    throw new InvalidAudioFrameError(`${owner}: numChannels must be a positive integer (got ${numChannels})`);
  }
  if (audio.length % numChannels !== 0) {
    throw new InvalidAudioFrameError(
      `${owner}: ${audio.length} samples is not a whole number of ${numChannels}-channel frames`,
    );
  }
}

/** Audio captured by an input transport. A system frame: it never waits behind queued data. */
export class InputAudioRawFrame extends SystemFrame implements AudioData {
  // Declared and assigned, not parameter properties: see the note on Frame's fields.
  declare readonly audio: Int16Array;
  declare readonly sampleRate: number;
  declare readonly numChannels: number;

  constructor(audio: Int16Array, sampleRate: number, numChannels = 1) {
    super();
    checkAudio("InputAudioRawFrame", audio, sampleRate, numChannels);
    this.audio = audio;
    this.sampleRate = sampleRate;
    this.numChannels = numChannels;
  }

  /** Samples per channel. */
  get numFrames(): number {
    return this.audio.length / this.numChannels;
  }

  /** Duration in ms. */
  get durationMs(): number {
    return (this.numFrames * 1000) / this.sampleRate;
  }
}

/** Audio to play through the output transport. */
export class OutputAudioRawFrame extends DataFrame implements AudioData {
  // Declared and assigned, not parameter properties: see the note on Frame's fields.
  declare readonly audio: Int16Array;
  declare readonly sampleRate: number;
  declare readonly numChannels: number;

  constructor(audio: Int16Array, sampleRate: number, numChannels = 1) {
    super();
    checkAudio(new.target.name, audio, sampleRate, numChannels);
    this.audio = audio;
    this.sampleRate = sampleRate;
    this.numChannels = numChannels;
  }

  /** Samples per channel. */
  get numFrames(): number {
    return this.audio.length / this.numChannels;
  }

  /** Duration in ms. */
  get durationMs(): number {
    return (this.numFrames * 1000) / this.sampleRate;
  }
}

/** Speech produced by a TTS service: counts as the bot speaking. */
export class TTSAudioRawFrame extends OutputAudioRawFrame {
  /** The TTS turn (context) this audio belongs to, when the service tracks them. */
  contextId: string | undefined = undefined;
}
