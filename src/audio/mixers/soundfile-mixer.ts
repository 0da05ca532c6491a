import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { downmixToMono } from "../pcm.js";
import { resampleOnce } from "../resampler.js";
import { readWavFile } from "../wav.js";
import { MixerEnableFrame, type MixerControlFrame, MixerUpdateSettingsFrame } from "../../frames/mixer.js";
import { InvalidOptionError, VoicepipeError } from "../../errors.js";
import type { AudioMixer, MixerStartContext } from "./audio-mixer.js";
import { pooledInt16 } from "../pcm-pool.js";

/** A sound file for the mixer is missing or cannot be used. */
export class MixerSoundError extends VoicepipeError {
  readonly code = "VP_MIXER_SOUND";
}

/**
 * Decoded sounds shared by every mixer in the process (sessions are cheap), keyed
 * by path, file size and mtime, and output rate. Holds one copy per distinct sound file and
 * rate; `clearSoundCache()` empties it.
 */
const soundCache = new Map<string, Promise<Int16Array>>();

/** Forgets every decoded sound (they are reloaded on the next mixer start). */
export function clearSoundCache(): void {
  soundCache.clear();
}

async function loadSound(path: string, sampleRate: number): Promise<Int16Array> {
  const info = await stat(path);
  const key = `${path}|${info.size}|${info.mtimeMs}|${sampleRate}`;
  let sound = soundCache.get(key);
  if (!sound) {
    sound = (async () => {
      const wav = await readWavFile(path);
      const mono = wav.numChannels === 1 ? wav.audio : downmixToMono(wav.audio, wav.numChannels);
      return wav.sampleRate === sampleRate ? mono : resampleOnce(mono, wav.sampleRate, sampleRate);
    })();
    soundCache.set(key, sound);
    sound.catch(() => soundCache.delete(key)); // a failed load is retried next time
  }
  return sound;
}

/** Options of {@link SoundfileMixer}. */
export interface SoundfileMixerOptions {
  /** Sounds by name: paths of WAV files (any rate, any channel count; mixed down and resampled on start). */
  soundFiles: Record<string, string>;
  /** The sound playing at start. @default the first of `soundFiles` */
  defaultSound?: string;
  /** Gain applied to the sound, 0 to 1. @default 0.4 */
  volume?: number;
  /** Mix at start (off: pass audio through until a `MixerEnableFrame(true)`). @default true */
  mixing?: boolean;
  /** Start the sound again at its end. @default true */
  loop?: boolean;
}

/**
 * Mixes WAV sound files (hold music, office ambience) into the bot's output (docs/design/output-pacing.md).
 * Files are read and resampled to the output rate when the output starts (Pipecat rejects
 * other rates; this mixer converts them) and shared by every mixer in the process; they are
 * mixed with clipping, switched at run time with
 * `MixerUpdateSettingsFrame({ sound, volume, loop })` and turned on and off with
 * `MixerEnableFrame`. A missing file fails at construction, an unreadable one at start, with
 * the path in the message.
 *
 * @example
 * const mixer = new SoundfileMixer({ soundFiles: { office: "office.wav" }, volume: 0.3 });
 * new MemoryTransport({ params: { audioOutEnabled: true, audioOutMixer: mixer } });
 */
export class SoundfileMixer implements AudioMixer {
  /** A Map, not an object: a sound named "toString" or "__proto__" must not be found on a prototype. */
  readonly #files: ReadonlyMap<string, string>;
  readonly #sounds = new Map<string, Int16Array>();
  #current: Int16Array | undefined;
  #currentName: string | undefined;
  #position = 0;
  #volume: number;
  #mixing: boolean;
  #loop: boolean;
  #channels = 1;
  /** Counts starts and stops: a start whose count is no longer current was stopped (or overtaken) while it read files. */
  #generation = 0;
  /** Calls of `mix` (for tests and metrics). */
  mixCalls = 0;

  constructor(options: SoundfileMixerOptions) {
    const names = Object.keys(options.soundFiles ?? {});
    if (names.length === 0) {
      throw new InvalidOptionError(
        "SoundfileMixer needs at least one entry in soundFiles, e.g. { office: 'office.wav' }",
      );
    }
    for (const [name, path] of Object.entries(options.soundFiles)) {
      if (!existsSync(path)) {
        throw new MixerSoundError(
          `SoundfileMixer: sound "${name}" points to ${path}, which does not exist; check the path`,
        );
      }
    }
    if (options.defaultSound !== undefined && !names.includes(options.defaultSound)) {
      throw new InvalidOptionError(
        `SoundfileMixer: defaultSound "${options.defaultSound}" is not one of soundFiles (${names.join(", ")})`,
      );
    }
    this.#files = new Map(Object.entries(options.soundFiles));
    this.#currentName = options.defaultSound ?? names[0];
    this.#volume = checkVolume(options.volume ?? 0.4);
    this.#mixing = options.mixing ?? true;
    this.#loop = options.loop ?? true;
  }

  get active(): boolean {
    return this.#mixing && this.#current !== undefined;
  }

  /** Name of the sound playing, if any. */
  get sound(): string | undefined {
    return this.#current ? this.#currentName : undefined;
  }

  get volume(): number {
    return this.#volume;
  }

  async start(sampleRate: number, numChannels: number, context?: MixerStartContext): Promise<void> {
    if (!Number.isInteger(sampleRate) || sampleRate < 1)
      throw new InvalidOptionError(
        `SoundfileMixer: start() needs a sample rate in Hz, a whole number ≥ 1 (got ${sampleRate})`,
      );
    // mix() steps through the audio by the channel count: 0 would never end, 1.5 would leave samples unwritten.
    if (!Number.isInteger(numChannels) || numChannels < 1)
      throw new InvalidOptionError(
        `SoundfileMixer: start() needs a channel count, a whole number ≥ 1 (got ${numChannels})`,
      );
    const generation = ++this.#generation;
    // Stopped, cancelled or started again while files were read: this start acquires nothing.
    const abandoned = (): boolean => generation !== this.#generation || context?.signal.aborted === true;
    this.#sounds.clear();
    this.#current = undefined;
    for (const [name, path] of this.#files) {
      if (abandoned()) return;
      let atRate: Int16Array;
      try {
        const loading = loadSound(path, sampleRate); // file I/O: marked as real work on the task clock
        atRate = await (context ? context.clock.track(loading) : loading);
      } catch (error) {
        throw new MixerSoundError(
          `SoundfileMixer: cannot use sound "${name}" (${path}): ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      if (abandoned()) return;
      if (atRate.length === 0)
        throw new MixerSoundError(`SoundfileMixer: sound "${name}" (${path}) is empty`);
      this.#sounds.set(name, atRate);
    }
    this.#channels = numChannels;
    this.#select(this.#currentName);
  }

  stop(): void {
    this.#generation++;
    this.#sounds.clear();
    this.#current = undefined;
    this.#position = 0;
  }

  processFrame(frame: MixerControlFrame): void {
    if (frame instanceof MixerEnableFrame) {
      this.#mixing = frame.enable;
      return;
    }
    if (frame instanceof MixerUpdateSettingsFrame) {
      const { sound, volume, loop } = frame.settings;
      // Check everything first: a rejected frame changes nothing.
      if (sound !== undefined && !this.#files.has(sound)) {
        throw new InvalidOptionError(
          `SoundfileMixer: no sound "${sound}" (known: ${[...this.#files.keys()].join(", ")})`,
        );
      }
      const newVolume = volume === undefined ? this.#volume : checkVolume(volume);
      this.#volume = newVolume;
      if (loop !== undefined) this.#loop = loop;
      if (sound !== undefined) this.#select(sound);
    }
  }

  mix(audio: Int16Array): Int16Array {
    this.mixCalls++;
    const sound = this.#current;
    if (!this.#mixing || !sound) return audio;
    const out = pooledInt16(audio.length); // every sample is written below
    const channels = this.#channels;
    const gain = this.#volume;
    let pos = this.#position;
    for (let i = 0; i < audio.length; i += channels) {
      if (pos >= sound.length) {
        if (!this.#loop) {
          this.#current = undefined;
          out.set(audio.subarray(i), i);
          break;
        }
        pos = 0;
      }
      const s = sound[pos++]! * gain;
      for (let c = 0; c < channels; c++) {
        const v = audio[i + c]! + s;
        out[i + c] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    this.#position = pos;
    return out;
  }

  #select(name: string | undefined): void {
    this.#currentName = name;
    this.#current = name === undefined ? undefined : this.#sounds.get(name);
    this.#position = 0;
  }
}

function checkVolume(volume: number): number {
  if (typeof volume !== "number" || !(volume >= 0 && volume <= 1)) {
    throw new InvalidOptionError(`SoundfileMixer: volume must be between 0 and 1 (got ${String(volume)})`);
  }
  return volume;
}
