/**
 * The audio formats telephony media streams carry (G.711 μ-law and A-law, 16-bit linear PCM) and
 * their base64 text form: the one place that turns wire bytes into PCM16 samples and back.
 */
import { decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw } from "../../audio/g711.js";
import { bytesToInt16, int16ToBytes } from "../../audio/pcm.js";

/** An encoding a telephony stream carries: G.711 μ-law, G.711 A-law, or 16-bit little-endian PCM. */
export type WireEncoding = "mulaw" | "alaw" | "l16";

/** One direction of a telephony stream: its encoding and sample rate (mono). */
export interface WireFormat {
  readonly encoding: WireEncoding;
  /** Samples per second (8000 for G.711). */
  readonly sampleRate: number;
}

/** Bytes one sample takes on the wire. */
export function bytesPerSample(encoding: WireEncoding): number {
  return encoding === "l16" ? 2 : 1;
}

/** Bytes of `ms` milliseconds of audio in `format`. */
export function wireBytes(format: WireFormat, ms: number): number {
  return Math.round((format.sampleRate * ms) / 1000) * bytesPerSample(format.encoding);
}

/** The byte one silent sample is made of (L16 silence is two zero bytes). */
export function silenceByte(encoding: WireEncoding): number {
  return encoding === "mulaw" ? 0xff : encoding === "alaw" ? 0xd5 : 0x00;
}

/** PCM16 samples as wire bytes of `encoding`. */
export function encodeWireAudio(samples: Int16Array, encoding: WireEncoding): Uint8Array {
  if (encoding === "mulaw") return encodeUlaw(samples);
  if (encoding === "alaw") return encodeAlaw(samples);
  // A view would alias the caller's frame, which lives on in the pipeline: copy.
  return int16ToBytes(samples).slice();
}

/**
 * Wire bytes of `encoding` as PCM16 samples, or a sentence saying why they are not audio (an odd
 * byte count of L16: half a sample).
 */
export function decodeWireAudio(
  bytes: Uint8Array,
  encoding: WireEncoding,
): { ok: true; samples: Int16Array } | { ok: false; detail: string } {
  if (encoding === "mulaw") return { ok: true, samples: decodeUlaw(bytes) };
  if (encoding === "alaw") return { ok: true, samples: decodeAlaw(bytes) };
  if (bytes.byteLength % 2 !== 0) {
    return {
      ok: false,
      detail: `${bytes.byteLength} bytes is not a whole number of 16-bit samples (L16 takes 2 bytes a sample)`,
    };
  }
  // Copied: the bytes belong to a message buffer that Node may reuse.
  return { ok: true, samples: bytesToInt16(bytes).slice() };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * The bytes of a standard base64 string, or `undefined` when it is not one. Strict: Node's own
 * decoder skips characters it does not know, which would turn a corrupted payload into noise.
 * Canonical too (RFC 4648 §3.5): the bits the padding leaves over must be zero, as every encoder
 * writes them; other values only come from a corrupted last letter.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  if (pad > 0 && (ALPHABET.indexOf(text[text.length - pad - 1]!) & (pad === 2 ? 0x0f : 0x03)) !== 0) {
    return undefined;
  }
  return Buffer.from(text, "base64");
}

/** The standard base64 text of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
