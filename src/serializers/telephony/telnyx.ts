import { InvalidOptionError, VoicepipeError } from "../../errors.js";
import { ErrorFrame } from "../../frames/error.js";
import type { Frame } from "../../frames/frame.js";
import { type DeserializeResult, NO_FRAMES, type SerializedMessage } from "../frame-serializer.js";
import { ReorderWindow } from "./reorder-window.js";
import {
  type JsonObject,
  object,
  stringRecord,
  TelephonySerializer,
  type TelephonySerializerOptions,
  text,
  wireNumber,
  wireText,
} from "./telephony-serializer.js";
import { type WireEncoding, type WireFormat, decodeBase64, encodeBase64, wireBytes } from "./wire-audio.js";
import { givenText } from "../../wire-values.js";

/** The codecs voicepipe reads and writes on a Telnyx stream (Telnyx also offers G722, OPUS and AMR-WB). */
export type TelnyxCodec = "PCMU" | "PCMA" | "L16";

/** The rates Telnyx plays a bidirectional stream at (`bidirectionalSamplingRate`). */
export type TelnyxSamplingRate = 8000 | 16000 | 24000;

/** Options of {@link TelnyxFrameSerializer}; give the same values to the TeXML `<Stream>` (or Call Control). */
export interface TelnyxFrameSerializerOptions extends TelephonySerializerOptions {
  /**
   * What Telnyx sends: the stream's `codec` (TeXML `<Stream codec>`, Call Control `stream_codec`).
   * The `start` message's `media_format` has the last word. @default "PCMU"
   */
  inboundCodec?: TelnyxCodec;
  /** The rate of what Telnyx sends, in Hz: 8000 for PCMU and PCMA; 8000, 16000 or 24000 for L16. @default 8000 */
  inboundSampleRate?: TelnyxSamplingRate;
  /**
   * What voicepipe sends: the `bidirectionalCodec` the TeXML asked for (Call Control
   * `stream_bidirectional_codec`), with `bidirectionalMode="rtp"`. @default "PCMU"
   */
  bidirectionalCodec?: TelnyxCodec;
  /** The `bidirectionalSamplingRate` the TeXML asked for, in Hz; PCMU and PCMA are 8000 only. @default 8000 */
  bidirectionalSamplingRate?: TelnyxSamplingRate;
  /**
   * Byte order of L16 samples on the wire, both ways. Telnyx carries RTP payloads, and RTP's L16
   * is big-endian (network order, RFC 3551). @default "big-endian"
   */
  l16ByteOrder?: "big-endian" | "little-endian";
  /**
   * Most media messages held to put out-of-order ones back in order (0: none held; a message
   * that comes after a later one is dropped). 3 is 60 ms of 20 ms packets: the most a missing
   * packet can delay the audio after it. @default 3
   */
  reorderWindow?: number;
}

/**
 * Telnyx reported a problem with what voicepipe sent on the stream (its `error` event): a
 * malformed frame, invalid media, a rate limit. The call goes on; each code is reported once.
 */
export class TelnyxStreamError extends VoicepipeError {
  readonly code = "VP_TELNYX_STREAM";
  constructor(
    /** Telnyx's error code (`100003`…), as text. */
    readonly telnyxCode: string,
    message: string,
  ) {
    super(message);
  }
}

const CODEC_ENCODING: Record<TelnyxCodec, WireEncoding> = { PCMU: "mulaw", PCMA: "alaw", L16: "l16" };
const SAMPLING_RATES: readonly number[] = [8000, 16000, 24000];
/** Distinct error codes counted one by one; past this many, the rest are counted together. */
const MAX_ERROR_CODES = 16;
const OTHER_CODES = "other";
/** What to do about each error code Telnyx documents. */
const ERROR_REMEDIES: Record<string, string> = {
  "100002": "Telnyx gave no reason; if it repeats, check the stream settings with Telnyx support",
  "100003":
    'a message sent on the stream was not one Telnyx reads: the TeXML must set bidirectionalMode="rtp", and transport messages an application sends to the call must be Telnyx messages (media, mark, clear)',
  "100004":
    "the audio sent was not what Telnyx expects: make the TeXML's bidirectionalCodec and bidirectionalSamplingRate those of the serializer (its streamAttributes)",
  "100005":
    'too many messages: the TeXML must set bidirectionalMode="rtp" (in mp3 mode Telnyx takes one message a second)',
};

/**
 * Telnyx media streaming (TeXML `<Start><Stream bidirectionalMode="rtp">`, or Call Control's
 * `stream_url` with `stream_bidirectional_mode: "rtp"`).
 *
 * Inbound: `connected`, `start` (top-level `stream_id`; `start.call_control_id`, `from`, `to`,
 * `custom_parameters`, `media_format`), `media` (base64 RTP payloads of the caller's track, μ-law,
 * A-law or L16), `dtmf`, `mark` (an echo), `error` (a problem with what voicepipe sent: reported
 * once per code as a non-fatal {@link ErrorFrame}, repeats counted in {@link streamErrors}),
 * `stop`. Outbound: `{"event":"media","media":{"payload"}}` in 20 ms packets of the bidirectional
 * codec, `{"event":"clear"}` on an interruption, marks as application transport messages. Telnyx
 * documents no way to send DTMF on the stream (its Call Control `send_dtmf` command does).
 *
 * Telnyx does not guarantee the order of media messages: the caller's packets are put back in
 * order within a window of `reorderWindow` messages ({@link ReorderWindow}); one that comes too
 * late is dropped, never played out of order, and counted in {@link reorderStats}. The order is
 * `media.chunk`, the packet's place in the caller's audio, which only media messages take, so
 * the numbers of the caller's packets follow one another without gaps. `sequence_number` numbers
 * every message on the socket (DTMF, marks, errors, the other track), so ordering by it makes a
 * gap of every message that is not the caller's audio; it is the fallback for media that carry
 * no chunk, and then every numbered event takes its place in the order so its number leaves no gap.
 */
export class TelnyxFrameSerializer extends TelephonySerializer {
  readonly provider = "telnyx" as const;
  readonly #window: ReorderWindow<readonly Frame[]>;
  readonly #bigEndian: boolean;
  readonly #streamAttributes: Readonly<Record<string, string>>;
  /** Which number orders the caller's packets; chosen by the first numbered one. */
  #orderBy: "chunk" | "sequence_number" | undefined;
  #unnumbered = 0;
  readonly #streamErrors = new Map<string, number>();

  constructor(options: TelnyxFrameSerializerOptions = {}) {
    const inboundCodec = codecOption("inboundCodec", options.inboundCodec);
    const outboundCodec = codecOption("bidirectionalCodec", options.bidirectionalCodec);
    const inbound = formatOption(inboundCodec, "inboundSampleRate", options.inboundSampleRate);
    const outbound = formatOption(
      outboundCodec,
      "bidirectionalSamplingRate",
      options.bidirectionalSamplingRate,
    );
    const byteOrder = options.l16ByteOrder ?? "big-endian";
    if (byteOrder !== "big-endian" && byteOrder !== "little-endian") {
      throw new InvalidOptionError(
        `telnyx: l16ByteOrder must be "big-endian" or "little-endian" (got ${JSON.stringify(byteOrder)}); leave it out for RTP's big-endian`,
      );
    }
    const window = options.reorderWindow ?? 3;
    if (!Number.isSafeInteger(window) || window < 0 || window > 50) {
      throw new InvalidOptionError(
        `telnyx: reorderWindow must be a whole number of messages from 0 to 50 (got ${givenText(options.reorderWindow)}); leave it out for 3 (60 ms)`,
      );
    }
    super({ inbound, outbound, packet: { packetBytes: wireBytes(outbound, 20) } }, options);
    this.#window = new ReorderWindow(window);
    this.#bigEndian = byteOrder === "big-endian";
    this.#streamAttributes = Object.freeze({
      codec: inboundCodec,
      bidirectionalMode: "rtp",
      bidirectionalCodec: outboundCodec,
      bidirectionalSamplingRate: String(outbound.sampleRate),
    });
  }

  /**
   * The TeXML `<Stream>` attributes that make Telnyx send and expect what this serializer
   * reads and writes (`codec`, `bidirectionalMode`, `bidirectionalCodec`, `bidirectionalSamplingRate`).
   */
  get streamAttributes(): Readonly<Record<string, string>> {
    return this.#streamAttributes;
  }

  /**
   * What the reordering did so far: messages `held` now, `late` ones dropped (they came after
   * what followed them was played), `duplicates` dropped, numbers `skipped` (given up on when
   * the window filled), `restarts` (a numbering that started again lower: after 25 late packets
   * in a row the order restarts from them), and media messages without a number (`unnumbered`,
   * passed on as they came).
   */
  get reorderStats(): {
    held: number;
    late: number;
    duplicates: number;
    skipped: number;
    restarts: number;
    unnumbered: number;
  } {
    const w = this.#window;
    return {
      held: w.held,
      late: w.late,
      duplicates: w.duplicates,
      skipped: w.skipped,
      restarts: w.restarts,
      unnumbered: this.#unnumbered,
    };
  }

  /** How many `error` events Telnyx sent, by code (at most 16 codes; the rest under `"other"`). */
  get streamErrors(): ReadonlyMap<string, number> {
    return this.#streamErrors;
  }

  protected readEvent(event: string, message: JsonObject, bytes: number): DeserializeResult {
    switch (event) {
      case "connected":
        return this.ignore();
      case "start":
        return this.#start(message, bytes);
      case "media":
        return this.#media(message, bytes);
      case "dtmf":
        return this.#inOrder(message, this.dtmf(object(message.dtmf).digit, bytes));
      case "mark":
        return this.#inOrder(message, NO_FRAMES);
      case "error":
        return this.#inOrder(message, this.#streamError(message));
      case "stop": {
        // What is held was waiting for a gap that will not be filled now.
        const held = this.#window.flush().flat();
        const stopped = this.streamStopped("the call ended (stop)");
        if (held.length === 0 || !stopped.ok) return stopped;
        return { ok: true, frames: [...held, ...stopped.frames] };
      }
      default:
        return this.unknownEvent(event, bytes);
    }
  }

  protected audioMessage(packet: Uint8Array): SerializedMessage {
    const wire = this.outbound.encoding === "l16" && this.#bigEndian ? Buffer.from(packet).swap16() : packet;
    return JSON.stringify({ event: "media", media: { payload: encodeBase64(wire) } });
  }

  protected clearMessage(): SerializedMessage {
    return CLEAR_MESSAGE;
  }

  #start(message: JsonObject, bytes: number): DeserializeResult {
    const start = object(message.start);
    const streamId = text(message.stream_id) ?? text(start.stream_id);
    const callId = text(start.call_control_id);
    if (!streamId || !callId) {
      return this.refuse("invalid", "a start message without stream_id and start.call_control_id", bytes);
    }
    return this.started(
      {
        callId,
        streamId,
        from: text(start.from),
        to: text(start.to),
        customParameters: stringRecord(start.custom_parameters),
      },
      this.#declaredFormat(start.media_format),
      bytes,
    );
  }

  #media(message: JsonObject, bytes: number): DeserializeResult {
    const media = object(message.media);
    // Only the caller's track is audio for the bot. Another track (both_tracks) has chunks of
    // its own; its sequence_number still takes a place in the order when that is the key.
    if (media.track !== undefined && media.track !== "inbound") return this.#inOrder(message, NO_FRAMES);
    if (typeof media.payload !== "string") {
      return this.refuse("malformed", "a media message without a base64 string media.payload", bytes);
    }
    const raw = decodeBase64(media.payload);
    if (!raw) return this.refuse("invalid", "media.payload is not valid base64", bytes);
    if (this.inbound.encoding === "l16" && this.#bigEndian && raw.byteLength % 2 === 0) {
      // Freshly decoded bytes: swapped in place to the little-endian order the decoder reads.
      Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).swap16();
    }
    const audio = this.audio(raw, bytes);
    if (!audio.ok) return audio;
    this.#orderBy ??=
      sequenceNumber(media.chunk) !== undefined
        ? "chunk"
        : sequenceNumber(message.sequence_number) !== undefined
          ? "sequence_number"
          : undefined;
    const key =
      this.#orderBy === "chunk"
        ? sequenceNumber(media.chunk)
        : this.#orderBy === "sequence_number"
          ? sequenceNumber(message.sequence_number)
          : undefined;
    if (key === undefined) {
      this.#unnumbered++;
      return audio;
    }
    return this.#released(this.#window.push(key, audio.frames), audio);
  }

  /**
   * A message other than the caller's audio: when the order is by `sequence_number`, it takes
   * its place (it may release held audio, and its own frames wait their turn); otherwise it
   * passes at once. A refused message takes no place: its number leaves a gap, which costs at
   * most one window of delay, never audio.
   */
  #inOrder(message: JsonObject, result: DeserializeResult): DeserializeResult {
    if (!result.ok || this.#orderBy !== "sequence_number") return result;
    const seq = sequenceNumber(message.sequence_number);
    return seq === undefined ? result : this.#released(this.#window.push(seq, result.frames), result);
  }

  /** The frames the window released, as one result (`pushed` itself when that is all). */
  #released(released: (readonly Frame[])[], pushed: DeserializeResult & { ok: true }): DeserializeResult {
    if (released.length === 1 && released[0] === pushed.frames) return pushed;
    const frames = released.flat();
    return frames.length === 0 ? NO_FRAMES : { ok: true, frames };
  }

  /** Telnyx's `error` event: an ErrorFrame the first time a code is seen, a count after. */
  #streamError(message: JsonObject): DeserializeResult {
    const payload = object(message.payload ?? message.error);
    const rawCode = payload.code;
    const code =
      typeof rawCode === "string" || typeof rawCode === "number" ? String(rawCode).slice(0, 20) : "unknown";
    const key =
      this.#streamErrors.has(code) || this.#streamErrors.size < MAX_ERROR_CODES - 1 ? code : OTHER_CODES;
    const seen = this.#streamErrors.get(key) ?? 0;
    this.#streamErrors.set(key, seen + 1);
    if (seen > 0) return NO_FRAMES;
    const title = text(payload.title)?.slice(0, 200) ?? "no title";
    const detail = text(payload.detail)?.slice(0, 500);
    const remedy =
      ERROR_REMEDIES[code] ??
      "check the stream settings in the TeXML against the serializer's streamAttributes";
    const error = new TelnyxStreamError(
      code,
      `telnyx: the media stream reported error ${code} (${title})${detail ? `: ${detail}` : ""}; ${remedy}. ` +
        `It is reported once per code; repeats are counted (TelnyxFrameSerializer.streamErrors)`,
    );
    return { ok: true, frames: [new ErrorFrame(error, { processor: this.provider })] };
  }

  /** The format a `start.media_format` names: one voicepipe decodes, or the name of one it cannot. */
  #declaredFormat(value: unknown): WireFormat | string | undefined {
    const format = object(value);
    if (format.encoding === undefined) return undefined;
    const name = wireText(format.encoding, 20).toUpperCase();
    const channels = format.channels === undefined ? 1 : wireNumber(format.channels);
    const expected = this.inbound;
    const rawRate = format.sample_rate;
    const encoding = (CODEC_ENCODING as Record<string, WireEncoding | undefined>)[name];
    const rate =
      rawRate === undefined || rawRate === null
        ? encoding === "l16" && expected.encoding === "l16"
          ? expected.sampleRate
          : 8000
        : wireNumber(rawRate);
    const readable =
      encoding !== undefined &&
      channels === 1 &&
      (encoding === "l16" ? Number.isInteger(rate) && rate >= 8000 && rate <= 48000 : rate === 8000);
    if (readable) return { encoding, sampleRate: rate };
    return `${name} at ${wireText(rawRate ?? "an unstated rate", 20)} Hz${channels === 1 ? "" : `, ${wireText(format.channels, 20)} channels`}`;
  }
}

const CLEAR_MESSAGE = JSON.stringify({ event: "clear" });

/** A message number: a whole number ≥ 0, sent as a string (Telnyx) or a number. */
function sequenceNumber(value: unknown): number | undefined {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && /^\d{1,15}$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function codecOption(name: string, value: TelnyxCodec | undefined): TelnyxCodec {
  const codec = value ?? "PCMU";
  if (!Object.hasOwn(CODEC_ENCODING, codec)) {
    throw new InvalidOptionError(
      `telnyx: ${name} must be "PCMU", "PCMA" or "L16" (got ${JSON.stringify(value)}); ` +
        "voicepipe does not decode G722, OPUS or AMR-WB: choose one of those three in the TeXML too",
    );
  }
  return codec;
}

function formatOption(codec: TelnyxCodec, name: string, value: number | undefined): WireFormat {
  const rate = value ?? 8000;
  if (!SAMPLING_RATES.includes(rate)) {
    throw new InvalidOptionError(
      `telnyx: ${name} must be 8000, 16000 or 24000 Hz (got ${String(value)}); leave it out for 8000`,
    );
  }
  if (codec !== "L16" && rate !== 8000) {
    throw new InvalidOptionError(
      `telnyx: ${name} ${rate} with ${codec}: G.711 (PCMU, PCMA) is 8000 Hz only; use L16 for ${rate} Hz, or leave ${name} out`,
    );
  }
  return { encoding: CODEC_ENCODING[codec], sampleRate: rate };
}
