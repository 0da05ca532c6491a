import { InvalidOptionError } from "../../errors.js";
import { ErrorFrame } from "../../frames/error.js";
import type { DeserializeResult, SerializedMessage } from "../frame-serializer.js";
import {
  type JsonObject,
  object,
  stringRecord,
  TelephonySerializer,
  type TelephonySerializerOptions,
  describeFormat,
  text,
  wireText,
} from "./telephony-serializer.js";
import { type WireEncoding, type WireFormat, encodeBase64, wireBytes } from "./wire-audio.js";
import { givenText } from "../../wire-values.js";

/** The rates an Exotel stream runs at (its URL's `?sample-rate=`). */
export const EXOTEL_SAMPLE_RATES = [8000, 16000, 24000] as const;

/** A rate of {@link EXOTEL_SAMPLE_RATES}. */
export type ExotelSampleRate = (typeof EXOTEL_SAMPLE_RATES)[number];

/** Options of {@link ExotelFrameSerializer}. */
export interface ExotelSerializerOptions extends TelephonySerializerOptions {
  /**
   * The stream's rate in Hz, both ways: what the stream URL asks for with `?sample-rate=`
   * (Exotel's default is 8000). A `start` that declares another rate is reported; the caller's
   * audio is then read at the declared rate, but voicepipe keeps sending at this one.
   * @default 8000
   */
  sampleRate?: ExotelSampleRate;
}

/** Exotel wants outbound `media` of at least 3,200 bytes… */
const EXOTEL_MIN_PACKET_BYTES = 3200;
/** …and a multiple of 320 bytes (other sizes play with gaps)… */
const EXOTEL_PACKET_STEP_BYTES = 320;
/** …and at most 100 KB (taken as 100,000 bytes, the smaller reading). */
const EXOTEL_MAX_PACKET_BYTES = 100_000;

/**
 * Exotel voicebot streams (the Voicebot/Stream applet, "AgentStream"): JSON text messages in
 * snake_case, audio as base64 of 16-bit little-endian PCM ("slin", not μ-law) at the rate the
 * stream URL chose. Inbound: `connected`, `start` (`stream_sid`, `call_sid`, `account_sid`,
 * `from`, `to`, `custom_parameters`, `media_format`), `media`, `dtmf`, `mark` (an echo), `stop`.
 * Outbound, each carrying the `stream_sid`: `media` in messages that are a multiple of 320 bytes
 * (and of a 20 ms frame), at least 3,200 bytes (200 ms at 8 kHz; the end of an answer is padded
 * with silence) and at most 100,000 bytes, and `clear` on an interruption.
 *
 * Exotel has no hang-up call here: closing the socket hands the call to the flow's next applet.
 * The stream cannot send DTMF. Sequence numbers are read neither way (Exotel sends them as
 * strings or numbers; nothing here depends on them).
 */
export class ExotelFrameSerializer extends TelephonySerializer {
  readonly provider = "exotel" as const;

  constructor(options: ExotelSerializerOptions = {}) {
    const sampleRate = options.sampleRate ?? 8000;
    if (!(EXOTEL_SAMPLE_RATES as readonly number[]).includes(sampleRate)) {
      throw new InvalidOptionError(
        `exotel: sampleRate must be one of ${EXOTEL_SAMPLE_RATES.join(", ")} (the stream URL's ?sample-rate=), ` +
          `got ${givenText(options.sampleRate)}; leave it out for 8000`,
      );
    }
    const format: WireFormat = { encoding: "l16", sampleRate };
    // Exotel's media comes in 20 ms frames, and 320 bytes is one at 8 kHz; at 16 and 24 kHz a
    // message is kept a multiple of both rules, so it never ends inside a frame.
    const frameBytes = wireBytes(format, 20);
    const step = lcm(EXOTEL_PACKET_STEP_BYTES, frameBytes);
    super(
      {
        inbound: format,
        outbound: format,
        packet: {
          packetBytes: Math.ceil(EXOTEL_MIN_PACKET_BYTES / step) * step,
          multipleOf: step,
          maxBytes: EXOTEL_MAX_PACKET_BYTES - (EXOTEL_MAX_PACKET_BYTES % step),
        },
      },
      options,
    );
  }

  /** Exotel has no answer document: its format is the applet's default, its rate what the URL chose. */
  protected override formatAdvice(expected: WireFormat): string {
    return (
      `Exotel streams base64 16-bit PCM at the rate its Voicebot applet's URL chose with ?sample-rate= ` +
      `(8000 when left out): keep the applet's default encoding, and give the serializer the URL's rate ` +
      `(answerCall's stream option, as the development server does, or ExotelFrameSerializer's sampleRate); ` +
      `voicepipe sends the bot's audio as ${describeFormat(expected)}, which Exotel plays at the URL's rate`
    );
  }

  protected readEvent(event: string, message: JsonObject, bytes: number): DeserializeResult {
    switch (event) {
      case "connected":
      case "mark":
      case "clear":
        return this.ignore();
      case "start":
        return this.#start(message, bytes);
      case "media":
        return this.media(object(message.media).payload, bytes);
      case "dtmf":
        return this.dtmf(object(message.dtmf).digit ?? message.digit, bytes);
      case "stop": {
        const reason = text(object(message.stop).reason);
        return this.streamStopped(
          reason ? `the call ended (stop: ${JSON.stringify(reason.slice(0, 80))})` : "the call ended (stop)",
        );
      }
      default:
        return this.unknownEvent(event, bytes);
    }
  }

  protected audioMessage(packet: Uint8Array): SerializedMessage {
    return JSON.stringify({
      event: "media",
      stream_sid: this.call!.streamId,
      media: { payload: encodeBase64(packet) },
    });
  }

  protected clearMessage(): SerializedMessage {
    return JSON.stringify({ event: "clear", stream_sid: this.call!.streamId });
  }

  #start(message: JsonObject, bytes: number): DeserializeResult {
    const start = object(message.start);
    // Exotel's samples differ on where the ids sit and how they are spelled.
    const streamId =
      text(start.stream_sid) ?? text(message.stream_sid) ?? text(start.streamSid) ?? text(message.streamSid);
    const callId = text(start.call_sid) ?? text(start.callSid);
    if (!streamId && !callId) {
      return this.refuse(
        "invalid",
        "a start message without start.stream_sid or start.call_sid: it names no stream; is this socket an Exotel stream?",
        bytes,
      );
    }
    const params = stringRecord(start.custom_parameters ?? start.customParameters);
    const result = this.started(
      {
        callId: callId ?? "",
        streamId: streamId ?? "",
        from: text(start.from) ?? params.from,
        to: text(start.to) ?? params.to,
        customParameters: params,
      },
      exotelFormat(start.media_format ?? start.mediaFormat, this.outbound.sampleRate),
      bytes,
    );
    if (!result.ok || streamId) return result;
    // One of Exotel's samples has no stream_sid: the call goes on, with a warning that replies may go unheard.
    const warning = new ErrorFrame(
      new Error(
        "exotel: the start message has no stream_sid; replies carry an empty stream_sid, which Exotel may ignore " +
          "(check the applet's stream settings if the caller hears nothing)",
      ),
      { processor: this.provider },
    );
    return { ok: true, frames: [...result.frames, warning] };
  }
}

/**
 * The format an Exotel `start.media_format` names, or a description of one voicepipe cannot
 * decode. Its spellings vary between Exotel's applets and samples: `encoding` "base64", "slin",
 * "linear16", "audio/L16;rate=16000", "audio/x-mulaw"…; `sample_rate` (or `sampleRate`, `rate`) a
 * number or a string ("8000", "8k").
 */
function exotelFormat(value: unknown, fallbackRate: number): WireFormat | string | undefined {
  const format = object(value);
  if (format.encoding === undefined && format.sample_rate === undefined && format.sampleRate === undefined) {
    return undefined;
  }
  const name = typeof format.encoding === "string" ? format.encoding.trim().toLowerCase() : "";
  const [mime = "", ...parameters] = name.split(";").map((part) => part.trim());
  const rateParameter = parameters.find((p) => p.startsWith("rate="))?.slice(5);
  // A rate that does not parse is taken as the one the stream URL asked for.
  const rate =
    parseRate(format.sample_rate ?? format.sampleRate ?? format.rate ?? rateParameter) ?? fallbackRate;
  const encoding = ENCODINGS.get(mime);
  if (encoding === undefined) {
    return `${JSON.stringify(wireText(format.encoding))} at ${wireText(format.sample_rate ?? format.sampleRate ?? "?", 20)} Hz`;
  }
  if (encoding !== "l16" && rate !== 8000) return `G.711 at ${rate} Hz`;
  return { encoding, sampleRate: rate };
}

/**
 * Exotel's names of encodings ("" and "base64": the applet's default, 16-bit PCM). A map, not an
 * object literal: a name from the wire such as "constructor" must find nothing.
 */
const ENCODINGS: ReadonlyMap<string, WireEncoding> = new Map<string, WireEncoding>([
  ["", "l16"],
  ["base64", "l16"],
  ["slin", "l16"],
  ["linear16", "l16"],
  ["l16", "l16"],
  ["audio/l16", "l16"],
  ["pcm", "l16"],
  ["s16le", "l16"],
  ["pcm_s16le", "l16"],
  ["audio/x-mulaw", "mulaw"],
  ["mulaw", "mulaw"],
  ["ulaw", "mulaw"],
  ["pcmu", "mulaw"],
  ["audio/x-alaw", "alaw"],
  ["alaw", "alaw"],
  ["pcma", "alaw"],
]);

/** A rate in Hz from 8000, "8000", "8k" or "8khz"; undefined when it is none from 8 to 48 kHz. */
function parseRate(value: unknown): number | undefined {
  let hz: number;
  if (typeof value === "number") hz = value;
  else if (typeof value === "string") {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(k|khz|hz)?\s*$/i.exec(value);
    if (!match) return undefined;
    hz = Number(match[1]) * (match[2] && match[2].toLowerCase() !== "hz" ? 1000 : 1);
  } else return undefined;
  return Number.isInteger(hz) && hz >= 8000 && hz <= 48000 ? hz : undefined;
}

function lcm(a: number, b: number): number {
  let [x, y] = [a, b];
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}
