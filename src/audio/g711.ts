/**
 * G.711 companding (ITU-T G.711): μ-law (North America, Japan; Twilio and most telephony media
 * streams) and A-law (Europe). Each 8-bit code holds one sample; the usual rate is 8000 Hz.
 *
 * Encoders take PCM16 and follow the standard's segment tables on the top 14 (μ-law) or 13 (A-law)
 * bits. Decoders return PCM16 in the standard's scale: μ-law codes decode to at most ±32124, A-law
 * codes to at most ±32256. Codes match the ITU-T G.191 reference coder (one's complement on the
 * negative side). Encoding then decoding changes a sample by at most half a quantisation step
 * (plus clipping at the top of the range): at most `|x| / 32 + 16`.
 */

/** μ-law bias added before the segment search (33 in 14-bit units, 132 in 16-bit units). */
const ULAW_BIAS = 0x84;
/** Largest magnitude μ-law can represent before the bias is added (8159 in 14-bit units, ×4). */
const ULAW_CLIP = 32635;

function decodeUlawSample(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

function decodeAlawSample(code: number): number {
  const a = code ^ 0x55;
  const segment = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  // Reconstruct at the middle of the quantisation interval, in 13-bit units, then scale to 16 bits.
  const magnitude = segment === 0 ? (mantissa << 1) + 1 : ((mantissa << 1) + 33) << (segment - 1);
  return a & 0x80 ? magnitude << 3 : -(magnitude << 3);
}

const ULAW_DECODE = Int16Array.from({ length: 256 }, (_, code) => decodeUlawSample(code));
const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, code) => decodeAlawSample(code));

/** Encodes one PCM16 sample (an integer in [-32768, 32767]) as a μ-law code (0 … 255). */
export function linearToUlaw(sample: number): number {
  // One's complement on the negative side, as in the ITU-T G.191 reference coder.
  let magnitude = sample < 0 ? ~sample : sample;
  const sign = sample < 0 ? 0x80 : 0x00;
  if (magnitude > ULAW_CLIP) magnitude = ULAW_CLIP;
  magnitude += ULAW_BIAS; // 132 … 32767: bit 7 or higher is always set
  const exponent = 31 - Math.clz32(magnitude) - 7; // segment 0 … 7
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Decodes one μ-law code (0 … 255) to a PCM16 sample. */
export function ulawToLinear(code: number): number {
  return ULAW_DECODE[code & 0xff]!;
}

/** Encodes one PCM16 sample (an integer in [-32768, 32767]) as an A-law code (0 … 255). */
export function linearToAlaw(sample: number): number {
  // A-law is sign-magnitude on 13 bits with a one's-complement negative side (no negative zero
  // problem: -1 maps to the smallest negative code). Even bits are inverted on the wire (^ 0x55).
  const negative = sample < 0;
  const magnitude = (negative ? ~sample : sample) >> 3; // 0 … 4095
  let code: number;
  if (magnitude < 32) {
    code = magnitude >> 1; // segments 0 and 1 share the same step
  } else {
    const segment = 31 - Math.clz32(magnitude) - 4; // 1 … 7
    code = (segment << 4) | ((magnitude >> segment) & 0x0f);
  }
  return (negative ? code : code | 0x80) ^ 0x55;
}

/** Decodes one A-law code (0 … 255) to a PCM16 sample. */
export function alawToLinear(code: number): number {
  return ALAW_DECODE[code & 0xff]!;
}

/**
 * Encodes PCM16 samples as μ-law, one byte per sample.
 *
 * @returns A new `Uint8Array` of `audio.length` bytes.
 * @example
 * const payload = encodeUlaw(pcm8k); // for a Twilio media message
 */
export function encodeUlaw(audio: Int16Array): Uint8Array {
  const out = new Uint8Array(audio.length);
  for (let i = 0; i < audio.length; i++) out[i] = linearToUlaw(audio[i]!);
  return out;
}

/** Decodes μ-law bytes to PCM16 samples. @returns A new `Int16Array` of `bytes.length` samples. */
export function decodeUlaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = ULAW_DECODE[bytes[i]!]!;
  return out;
}

/** Encodes PCM16 samples as A-law, one byte per sample. @returns A new `Uint8Array`. */
export function encodeAlaw(audio: Int16Array): Uint8Array {
  const out = new Uint8Array(audio.length);
  for (let i = 0; i < audio.length; i++) out[i] = linearToAlaw(audio[i]!);
  return out;
}

/** Decodes A-law bytes to PCM16 samples. @returns A new `Int16Array` of `bytes.length` samples. */
export function decodeAlaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = ALAW_DECODE[bytes[i]!]!;
  return out;
}
