import { TTSOutputError } from "./tts-errors.js";

/** What a WAV header said about the audio after it. */
export interface PcmFormat {
  /** Samples per second, in Hz. */
  readonly sampleRate: number;
  /** Interleaved channels. */
  readonly numChannels: number;
}

/** Longest header read before the `data` chunk, in bytes: a WAV whose header is longer is refused. */
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Turns a byte stream of little-endian PCM16 (raw, or a WAV file as it is written) into
 * `Int16Array` chunks, as the bytes come. A program writing WAV to a pipe cannot seek back to fix
 * the sizes in its header (espeak-ng writes 0x7ffff000), so the `data` chunk's size is ignored and
 * the audio runs to the end of the stream. A sample split across two reads is carried over.
 *
 * Memory: at most the header (≤ 64 KiB) and one odd byte are held between calls.
 */
export class PcmStreamReader {
  readonly #source: string;
  #header: Buffer | undefined;
  #format: PcmFormat | undefined;
  #odd: number | undefined;

  /**
   * @param source - Names the stream in errors (e.g. `"espeak-ng's output"`).
   * @param raw - The stream is raw PCM16 in this format (no header); omit for WAV.
   */
  constructor(source: string, raw?: PcmFormat) {
    this.#source = source;
    this.#format = raw;
    if (!raw) this.#header = Buffer.alloc(0);
  }

  /** The format, once known (at once for raw PCM, after the header for WAV). */
  get format(): PcmFormat | undefined {
    return this.#format;
  }

  /** Takes the next bytes; returns the whole samples they complete (often empty while in the header). */
  push(bytes: Uint8Array): Int16Array {
    if (this.#header) {
      const header = Buffer.concat([this.#header, bytes]);
      const start = this.#parseHeader(header);
      if (start === undefined) {
        if (header.length > MAX_HEADER_BYTES) {
          throw new TTSOutputError(
            `${this.#source}: no WAV "data" chunk in the first ${MAX_HEADER_BYTES} bytes`,
          );
        }
        this.#header = header;
        return new Int16Array(0);
      }
      this.#header = undefined;
      bytes = header.subarray(start);
    }
    return this.#samples(bytes);
  }

  /** The stream ended: throws if it ended inside the header. A dangling half sample is dropped. */
  end(): void {
    if (this.#header) {
      throw new TTSOutputError(
        `${this.#source}: the stream ended after ${this.#header.length} bytes, before the WAV header was complete` +
          " (the program wrote no audio)",
      );
    }
    this.#odd = undefined;
  }

  #samples(bytes: Uint8Array): Int16Array {
    let offset = 0;
    const total = bytes.length + (this.#odd === undefined ? 0 : 1);
    const out = new Int16Array(total >> 1);
    const outBytes = new Uint8Array(out.buffer);
    let at = 0;
    if (this.#odd !== undefined && bytes.length > 0) {
      outBytes[0] = this.#odd;
      outBytes[1] = bytes[0]!;
      this.#odd = undefined;
      offset = 1;
      at = 2;
    }
    const whole = (bytes.length - offset) & ~1;
    // PCM16 little-endian into a typed array: a byte copy on little-endian hosts (every Node target).
    outBytes.set(bytes.subarray(offset, offset + whole), at);
    if (offset + whole < bytes.length) this.#odd = bytes[bytes.length - 1]!;
    return out;
  }

  /** Returns where the audio starts once the header is complete, else undefined. */
  #parseHeader(b: Buffer): number | undefined {
    if (b.length < 12) return undefined;
    if (b.toString("latin1", 0, 4) !== "RIFF" || b.toString("latin1", 8, 12) !== "WAVE") {
      throw new TTSOutputError(
        `${this.#source} is not a WAV stream (it starts with ${JSON.stringify(b.toString("latin1", 0, 12))}); ` +
          "check the program's arguments: it must write a PCM16 WAV to stdout",
      );
    }
    let at = 12;
    while (at + 8 <= b.length) {
      const id = b.toString("latin1", at, at + 4);
      const size = b.readUInt32LE(at + 4);
      if (id === "data") {
        if (!this.#format)
          throw new TTSOutputError(`${this.#source}: the WAV "data" chunk comes before "fmt "`);
        return at + 8;
      }
      const next = at + 8 + size + (size & 1);
      if (next > b.length) return undefined;
      if (id === "fmt ") this.#format = this.#readFormat(b.subarray(at + 8, at + 8 + size));
      at = next;
    }
    return undefined;
  }

  #readFormat(fmt: Buffer): PcmFormat {
    const tag = fmt.length >= 2 ? fmt.readUInt16LE(0) : -1;
    const numChannels = fmt.length >= 4 ? fmt.readUInt16LE(2) : 0;
    const sampleRate = fmt.length >= 8 ? fmt.readUInt32LE(4) : 0;
    const bits = fmt.length >= 16 ? fmt.readUInt16LE(14) : 0;
    // 0xfffe (extensible) carries PCM too; its sub-format is not checked: programs that write it say PCM.
    if ((tag !== 1 && tag !== 0xfffe) || bits !== 16 || numChannels < 1 || sampleRate < 1) {
      throw new TTSOutputError(
        `${this.#source}: the WAV is format ${tag}, ${bits}-bit, ${numChannels} channel(s) at ${sampleRate} Hz; ` +
          "only 16-bit PCM is read",
      );
    }
    return { sampleRate, numChannels };
  }
}
