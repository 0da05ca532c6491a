/**
 * WAV files in and out. Reading accepts the encodings found in practice (PCM 8/16/24/32-bit,
 * IEEE float 32/64-bit, G.711 μ-law and A-law; RIFF, RIFX and RF64 containers, including
 * WAVE_FORMAT_EXTENSIBLE) and always returns interleaved PCM16. Writing produces plain 16-bit PCM.
 * Container parsing is done by `wavefile`; sample conversion is done here.
 */
import { readFile, writeFile } from "node:fs/promises";
import wavefile from "wavefile";
import { InvalidOptionError, VoicepipeError, describe } from "../errors.js";
import { decodeAlaw, decodeUlaw } from "./g711.js";
import { checkLayout, float32ToInt16, int16ToBytes } from "./pcm.js";

/** A WAV file to read does not exist. */
export class WavFileNotFoundError extends VoicepipeError {
  readonly code = "VP_WAV_FILE_NOT_FOUND";
  constructor(
    readonly path: string,
    cause?: unknown,
  ) {
    super(`WAV file not found: ${path}; check the path (relative paths resolve from ${process.cwd()})`, {
      cause,
    });
  }
}

/** A WAV file exists but cannot be read (a directory, no permission, an I/O error). */
export class WavFileReadError extends VoicepipeError {
  readonly code = "VP_WAV_FILE_UNREADABLE";
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot read WAV file ${path}: ${fsReason(cause, "read")}`, { cause });
  }
}

/** A WAV file cannot be created or written (no such directory, no permission, a directory in the way). */
export class WavFileWriteError extends VoicepipeError {
  readonly code = "VP_WAV_FILE_UNWRITABLE";
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot write WAV file ${path}: ${fsReason(cause, "write")}`, { cause });
  }
}

/** What went wrong with a file path, in words, with what to do. */
function fsReason(error: unknown, doing: "read" | "write"): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "EISDIR":
      return `it is a directory; give the path of a .wav file`;
    case "ENOENT":
      return doing === "write"
        ? "its directory does not exist; create it first or choose another path"
        : "it does not exist; check the path";
    case "ENOTDIR":
      return "a part of the path is a file, not a directory; check the path";
    case "EACCES":
    case "EPERM":
      return `permission denied; check the file's and its directory's permissions`;
    case "EROFS":
      return "the file system is read-only; choose another path";
    default:
      return describe(error);
  }
}

/** The bytes are not a WAV file, or the file is damaged (no RIFF/WAVE header, no fmt or data chunk). */
export class NotAWavError extends VoicepipeError {
  readonly code = "VP_NOT_A_WAV";
  constructor(
    readonly source: string,
    readonly reason: string,
    cause?: unknown,
  ) {
    super(`${source} is not a readable WAV file (${reason}); give a RIFF/WAVE file`, { cause });
  }
}

/** The WAV file uses an encoding voicepipe does not decode (e.g. ADPCM, MP3-in-WAV, 12-bit PCM). */
export class UnsupportedWavEncodingError extends VoicepipeError {
  readonly code = "VP_UNSUPPORTED_WAV_ENCODING";
  constructor(
    readonly source: string,
    readonly formatTag: number,
    readonly bitsPerSample: number,
  ) {
    super(
      `${source} uses ${encodingName(formatTag)} (format tag 0x${formatTag.toString(16)}) at ${bitsPerSample} bits per sample, ` +
        "which voicepipe cannot decode; it reads PCM 8/16/24/32-bit, float 32/64-bit, μ-law and A-law. " +
        "Convert the file first, e.g. `sox in.wav -b 16 -e signed-integer out.wav`",
    );
  }
}

/** Decoded WAV audio. */
export interface WavAudio {
  /** Interleaved PCM16 samples. */
  readonly audio: Int16Array;
  /** Samples per second per channel, in Hz. */
  readonly sampleRate: number;
  /** Interleaved channel count. */
  readonly numChannels: number;
  /**
   * Set only for a truncated file: the frames (samples per channel) that the header announces
   * but the file does not hold (a copy cut short, a recording whose writer died). A header that
   * declares no size (0 or 0xFFFFFFFF, as streaming writers do) counts as whole.
   */
  readonly missingFrames?: number;
}

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_ALAW = 0x0006;
const FORMAT_ULAW = 0x0007;
const FORMAT_EXTENSIBLE = 0xfffe;

function encodingName(tag: number): string {
  const names: Record<number, string> = {
    [FORMAT_PCM]: "PCM",
    [FORMAT_FLOAT]: "IEEE float",
    [FORMAT_ALAW]: "A-law",
    [FORMAT_ULAW]: "μ-law",
    0x0002: "Microsoft ADPCM",
    0x0011: "IMA ADPCM",
    0x0055: "MP3",
  };
  return names[tag] ?? "an unknown encoding";
}

/** The parts of wavefile's untyped `fmt` and `data` objects that are read here. */
interface ParsedWav {
  container: string;
  fmt: {
    audioFormat: number;
    numChannels: number;
    sampleRate: number;
    bitsPerSample: number;
    blockAlign: number;
    subformat?: number[];
  };
  data: { chunkSize: number; samples: Uint8Array };
}

/**
 * Decodes a WAV file held in memory to interleaved PCM16.
 *
 * Conversions: 8-bit unsigned PCM is centred and scaled up; 24- and 32-bit PCM are rounded to the
 * nearest 16-bit value; float is scaled by 32768, rounded and clipped; μ-law and A-law are
 * expanded per G.711.
 *
 * A truncated file (fewer data bytes than its header announces) is read, not refused: every
 * whole frame present is returned, a trailing partial frame is dropped, and
 * {@link WavAudio.missingFrames} says how much is missing, so the caller can warn (the WAV file
 * transport does, once, naming the file).
 *
 * Throws {@link NotAWavError} for bytes that are not a WAV file, {@link UnsupportedWavEncodingError}
 * for encodings other than the above.
 *
 * @param bytes - The whole file (a `Buffer` is a `Uint8Array`).
 * @param source - How to name the data in error messages. @default "the audio buffer"
 */
export function readWav(bytes: Uint8Array, source = "the audio buffer"): WavAudio {
  let wav: ParsedWav;
  try {
    wav = new wavefile.WaveFile(bytes) as unknown as ParsedWav;
  } catch (error) {
    throw new NotAWavError(source, describe(error), error);
  }
  const { fmt } = wav;
  const tag = fmt.audioFormat === FORMAT_EXTENSIBLE ? (fmt.subformat?.[0] ?? 0) : fmt.audioFormat;
  const bits = fmt.bitsPerSample;
  const numChannels = fmt.numChannels;
  const sampleRate = fmt.sampleRate;
  if (!Number.isInteger(numChannels) || numChannels < 1 || !Number.isInteger(sampleRate) || sampleRate < 1) {
    throw new NotAWavError(source, `the fmt chunk says ${numChannels} channels at ${sampleRate} Hz`);
  }
  const bytesPerSample = bits / 8;
  const supported =
    (tag === FORMAT_PCM && (bits === 8 || bits === 16 || bits === 24 || bits === 32)) ||
    (tag === FORMAT_FLOAT && (bits === 32 || bits === 64)) ||
    ((tag === FORMAT_ULAW || tag === FORMAT_ALAW) && bits === 8);
  if (!supported) throw new UnsupportedWavEncodingError(source, tag, bits);

  const frameBytes = bytesPerSample * numChannels;
  const raw = wav.data.samples;
  const count = Math.floor(raw.byteLength / frameBytes) * numChannels;
  const data = raw.subarray(0, count * bytesPerSample);
  const audio = decodeSamples(data, tag, bits, count, wav.container !== "RIFX");
  const declared = wav.data.chunkSize;
  const announced = declared > 0 && declared < 0xffffffff ? Math.ceil(declared / frameBytes) : 0;
  const missingFrames = Math.max(0, announced - count / numChannels);
  return missingFrames > 0
    ? { audio, sampleRate, numChannels, missingFrames }
    : { audio, sampleRate, numChannels };
}

function decodeSamples(
  data: Uint8Array,
  tag: number,
  bits: number,
  count: number,
  littleEndian: boolean,
): Int16Array {
  if (tag === FORMAT_ULAW) return decodeUlaw(data);
  if (tag === FORMAT_ALAW) return decodeAlaw(data);
  const out = new Int16Array(count);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (tag === FORMAT_FLOAT) {
    const floats = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      floats[i] = bits === 32 ? view.getFloat32(i * 4, littleEndian) : view.getFloat64(i * 8, littleEndian);
    }
    return float32ToInt16(floats, out);
  }
  switch (bits) {
    case 8:
      for (let i = 0; i < count; i++) out[i] = (data[i]! - 128) << 8;
      break;
    case 16:
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, littleEndian);
      break;
    case 24:
      for (let i = 0; i < count; i++) {
        const o = i * 3;
        const v = littleEndian
          ? (data[o + 2]! << 24) | (data[o + 1]! << 16) | (data[o]! << 8)
          : (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8);
        out[i] = roundTo16(v);
      }
      break;
    default:
      for (let i = 0; i < count; i++) out[i] = roundTo16(view.getInt32(i * 4, littleEndian));
  }
  return out;
}

/** Rounds a 32-bit sample to its top 16 bits, clipping the one value that would round past 32767. */
function roundTo16(v: number): number {
  const r = Math.round(v / 65536);
  return r > 32767 ? 32767 : r;
}

/**
 * Reads a WAV file from disk and decodes it to interleaved PCM16 (see {@link readWav}).
 *
 * Throws {@link WavFileNotFoundError} (naming the path) when the file does not exist,
 * {@link WavFileReadError} (naming the path and the reason) when it cannot be read (a directory,
 * no permission), {@link NotAWavError} or {@link UnsupportedWavEncodingError} when it cannot be
 * decoded. A truncated file is read whole as far as it goes (see {@link readWav}).
 *
 * @example
 * const { audio, sampleRate, numChannels } = await readWavFile("sounds/ding.wav");
 */
export async function readWavFile(path: string): Promise<WavAudio> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new WavFileNotFoundError(path, error);
    throw new WavFileReadError(path, error);
  }
  return readWav(bytes, path);
}

/**
 * Encodes interleaved PCM16 as a 16-bit PCM WAV file (a canonical 44-byte header, then the
 * samples little-endian). Accepts any object with `audio`, `sampleRate` and optional `numChannels`,
 * such as an audio frame.
 *
 * @param data.numChannels - Interleaved channel count. @default 1
 * @returns The whole file.
 */
export function writeWav(data: { audio: Int16Array; sampleRate: number; numChannels?: number }): Uint8Array {
  const { audio, sampleRate } = data;
  const numChannels = data.numChannels ?? 1;
  checkLayout("writeWav", audio, numChannels);
  if (!Number.isInteger(sampleRate) || sampleRate < 1) {
    throw new InvalidOptionError(`writeWav: sampleRate must be a positive integer in Hz (got ${sampleRate})`);
  }
  const dataBytes = audio.length * 2;
  if (dataBytes > 0xffffffff - 36) {
    throw new InvalidOptionError(
      `writeWav: ${dataBytes} bytes of audio exceed the 4 GiB limit of a WAV file; split it`,
    );
  }
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, FORMAT_PCM, true);
  view.setUint16(22, numChannels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * numChannels * 2, true); // byte rate
  view.setUint16(32, numChannels * 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  out.set(int16ToBytes(audio), 44);
  return out;
}

/**
 * Writes interleaved PCM16 to `path` as a 16-bit PCM WAV file (see {@link writeWav}), replacing
 * any existing file. Throws {@link WavFileWriteError} (naming the path and the reason) when the
 * file cannot be written.
 */
export async function writeWavFile(
  path: string,
  data: { audio: Int16Array; sampleRate: number; numChannels?: number },
): Promise<void> {
  const bytes = writeWav(data);
  try {
    await writeFile(path, bytes);
  } catch (error) {
    throw new WavFileWriteError(path, error);
  }
}
