/**
 * The provider's side of each telephony media stream, written from the providers' documentation
 * (facts as collected for this project: Twilio, Telnyx, Plivo, Exotel and Vonage media streams).
 * It builds the messages a provider sends and reads the ones a bot sends back. It does NOT import
 * voicepipe's serializers: it stands for the provider, so a serializer that misreads the
 * documentation fails against it. Only the G.711 codec (a standard, tested on its own) is shared.
 *
 * Where a provider's documentation is thin (Telnyx's `dtmf`/`stop` envelopes, Exotel's field
 * spellings), the messages follow the most common documented shape.
 */
import { decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw } from "../../../src/audio/g711.js";
import type { TelephonyProvider } from "../../../src/serializers/telephony/telephony-serializer.js";

/** An encoding on the wire: G.711 μ-law, G.711 A-law, or 16-bit little-endian PCM. */
export type CallerEncoding = "mulaw" | "alaw" | "l16";

/** One direction of a stream: its encoding and rate (mono). */
export interface CallerFormat {
  readonly encoding: CallerEncoding;
  readonly sampleRate: number;
}

/** How the provider expects the bot's audio to be cut into messages. */
export type PacketExpectation =
  /** Every message exactly this many bytes. */
  | { readonly exactBytes: number }
  /** Every message a multiple of `multipleOf` bytes, at least `minBytes`, at most `maxBytes` (Exotel). */
  | { readonly multipleOf: number; readonly minBytes: number; readonly maxBytes: number };

/** The ids and numbers of one simulated call. */
export interface CallIds {
  readonly callId: string;
  readonly streamId: string;
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly customParameters: Readonly<Record<string, string>>;
}

/** What the `start` (or first) message declares about the caller's audio. */
export interface Declaration {
  /** The format named in the start message (what the bot should decode). */
  readonly format: CallerFormat;
  /**
   * Replaces the provider's whole media-format field of the start message with this raw value
   * (to declare something a provider may send that voicepipe cannot decode, e.g. `"G722"`).
   */
  readonly raw?: unknown;
}

/** A message from the bot, as the provider reads it. */
export type BotMessage =
  | { readonly kind: "audio"; readonly bytes: Uint8Array }
  | { readonly kind: "clear" }
  | { readonly kind: "mark"; readonly name: string }
  | { readonly kind: "dtmf"; readonly keys: string }
  | { readonly kind: "other"; readonly event: string }
  /** Something the provider would reject or ignore (its debugger would show a warning). */
  | { readonly kind: "violation"; readonly why: string };

/** A message to the socket: text (JSON) or binary. */
export type WireMessage = string | Buffer;

/** One provider's media stream, as the provider speaks it. */
export interface CallerWire {
  readonly provider: TelephonyProvider;
  /** What the provider sends by default (the answer document asked for it). */
  readonly inbound: CallerFormat;
  /** What the provider plays: the bot's audio must come in this format… */
  readonly outbound: CallerFormat;
  /** …cut like this. */
  readonly packets: PacketExpectation;
  /** Whether the bot's audio comes in binary messages (Vonage) or base64 in JSON text. */
  readonly binaryAudio: boolean;
  /** Whether the stream ends with a `stop` message; without one the provider closes the socket. */
  readonly hasStop: boolean;
  /** The messages that open the stream (§2.6: `connected` then `start`; Plivo `start`; Vonage `websocket:connected`). */
  firstMessages(ids: CallIds, declared: Declaration): WireMessage[];
  /** One message of caller audio (already encoded). `seq` counts every message from 1; `chunk` the media ones. */
  media(ids: CallIds, payload: Uint8Array, at: MediaPosition): WireMessage;
  /** The caller pressed `digit`. */
  dtmf(ids: CallIds, digit: string, seq: number): WireMessage;
  /** The call ended (providers with `hasStop` only). */
  stop(ids: CallIds, seq: number): WireMessage;
  /** Reads one message from the bot. */
  read(ids: CallIds, data: Buffer, isBinary: boolean): BotMessage;
  /** What the provider answers once a `clear` has taken effect, when it answers at all. */
  cleared?(ids: CallIds, seq: number): WireMessage;
  /** What the provider answers once the audio sent before a mark has played. */
  markPlayed?(ids: CallIds, name: string, seq: number): WireMessage;
}

/** Where a media message sits in the stream. */
export interface MediaPosition {
  /** Sequence number of the message (every message from the provider counts). */
  readonly seq: number;
  /** Media messages sent so far, this one included (1-based). */
  readonly chunk: number;
  /** Milliseconds of audio sent before this message (the stream's own clock). */
  readonly timestampMs: number;
}

/** Bytes of `ms` of audio in `format`. */
export function formatBytes(format: CallerFormat, ms: number): number {
  return Math.round((format.sampleRate * ms) / 1000) * (format.encoding === "l16" ? 2 : 1);
}

/** PCM16 samples as wire bytes. */
export function encodeAudio(samples: Int16Array, encoding: CallerEncoding): Uint8Array {
  if (encoding === "mulaw") return encodeUlaw(samples);
  if (encoding === "alaw") return encodeAlaw(samples);
  const bytes = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) bytes.writeInt16LE(samples[i]!, i * 2);
  return bytes;
}

/** Wire bytes as PCM16 samples (an odd trailing byte of L16 is dropped). */
export function decodeAudio(bytes: Uint8Array, encoding: CallerEncoding): Int16Array {
  if (encoding === "mulaw") return decodeUlaw(bytes);
  if (encoding === "alaw") return decodeAlaw(bytes);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.byteLength >> 1);
  for (let i = 0; i < out.length; i++) out[i] = buffer.readInt16LE(i * 2);
  return out;
}

/** The byte a silent sample is made of. */
export function silenceByte(encoding: CallerEncoding): number {
  return encoding === "mulaw" ? 0xff : encoding === "alaw" ? 0xd5 : 0;
}

export const b64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** A JSON text message from the bot, or why it is not one. */
export function json(data: Buffer, isBinary: boolean, provider: string): Record<string, unknown> | string {
  if (isBinary) return `${provider} takes text messages only; a binary message came`;
  try {
    const value: unknown = JSON.parse(data.toString("utf8"));
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
    return `not a JSON object: ${data.toString("utf8").slice(0, 80)}`;
  } catch {
    return `not JSON: ${data.toString("utf8").slice(0, 80)}`;
  }
}

export const obj = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

/** Strict base64 (Node's decoder skips characters it does not know). */
export function base64(value: unknown): Uint8Array | undefined {
  if (typeof value !== "string" || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    return undefined;
  return Buffer.from(value, "base64");
}

/** Reads `{ event: "media", <idKey>: ids.streamId, media: { payload } }` and the other JSON events a bot sends. */
export function readJsonEvents(
  provider: string,
  message: Record<string, unknown> | string,
  check: {
    /** The field that must carry the stream id, if any. */
    idKey?: string;
    streamId: string;
    /** The name of the audio event (`media`, Plivo `playAudio`). */
    audioEvent: string;
    clearEvent: string;
    /** Checks an audio message beyond its payload (Plivo's declared content type). */
    audioCheck?: (m: Record<string, unknown>) => string | undefined;
  },
): BotMessage {
  if (typeof message === "string") return { kind: "violation", why: message };
  const event = message.event;
  if (typeof event !== "string") return { kind: "violation", why: `no "event" field` };
  if (check.idKey && (event === check.audioEvent || event === check.clearEvent || event === "mark")) {
    if (message[check.idKey] !== check.streamId)
      return {
        kind: "violation",
        why: `${event} with ${check.idKey} ${JSON.stringify(message[check.idKey])}, not the stream's ${check.streamId}`,
      };
  }
  if (event === check.audioEvent) {
    const bytes = base64(obj(message.media).payload);
    if (!bytes) return { kind: "violation", why: `${event} without a base64 media.payload` };
    const wrong = check.audioCheck?.(message);
    if (wrong) return { kind: "violation", why: wrong };
    return { kind: "audio", bytes };
  }
  if (event === check.clearEvent) return { kind: "clear" };
  if (event === "mark" || event === "checkpoint") {
    const name = event === "mark" ? obj(message.mark).name : message.name;
    if (typeof name !== "string") return { kind: "violation", why: `${event} without a name` };
    return { kind: "mark", name };
  }
  return { kind: "other", event };
}

/** 8 kHz G.711 μ-law, what most providers carry. */
export const MULAW_8K: CallerFormat = { encoding: "mulaw", sampleRate: 8000 };

/** Wall-clock milliseconds since 1970 (Plivo's media timestamps). */
export function epochMs(): number {
  return Math.round(performance.timeOrigin + performance.now());
}
