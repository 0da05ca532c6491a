import { InvalidOptionError } from "../../errors.js";
import { ErrorFrame } from "../../frames/error.js";
import {
  type DeserializeResult,
  FrameDeserializeError,
  FrameSerializeError,
  type SerializedMessage,
} from "../frame-serializer.js";
import { parseExtraHeaders } from "./plivo-extra-headers.js";
import {
  describeFormat,
  type JsonObject,
  object,
  TelephonySerializer,
  type TelephonySerializerOptions,
  text,
  wireNumber,
  wireText,
} from "./telephony-serializer.js";
import { type WireFormat, encodeBase64, wireBytes } from "./wire-audio.js";

/**
 * The `contentType`s a Plivo `<Stream>` can ask for. Plivo's default (the attribute left out) is
 * `audio/x-l16;rate=8000`.
 */
export type PlivoContentType = "audio/x-mulaw;rate=8000" | "audio/x-l16;rate=8000" | "audio/x-l16;rate=16000";

/** What each content type carries. */
const PLIVO_FORMATS: Readonly<Record<PlivoContentType, WireFormat>> = {
  "audio/x-mulaw;rate=8000": { encoding: "mulaw", sampleRate: 8000 },
  "audio/x-l16;rate=8000": { encoding: "l16", sampleRate: 8000 },
  "audio/x-l16;rate=16000": { encoding: "l16", sampleRate: 16000 },
};

/** The content types {@link PlivoFrameSerializer} speaks, the default first. */
export const PLIVO_CONTENT_TYPES: readonly PlivoContentType[] = Object.keys(
  PLIVO_FORMATS,
) as PlivoContentType[];

/** 8 kHz μ-law, as Pipecat's Plivo serializer and the other providers' streams. */
export const DEFAULT_PLIVO_CONTENT_TYPE: PlivoContentType = "audio/x-mulaw;rate=8000";

/** Options of {@link PlivoFrameSerializer}. */
export interface PlivoFrameSerializerOptions extends TelephonySerializerOptions {
  /**
   * The stream's format, both ways: it must be the `contentType` attribute of the `<Stream>`
   * element in the Plivo XML that answered the call. Set that attribute: left out, Plivo streams
   * `audio/x-l16;rate=8000`. @default "audio/x-mulaw;rate=8000"
   */
  contentType?: PlivoContentType;
}

/**
 * Plivo audio streams (`<Stream bidirectional="true" keepCallAlive="true"
 * contentType="audio/x-mulaw;rate=8000">wss://…</Stream>`; the socket's URL is the element's
 * text). Inbound, camelCase JSON with numeric `sequenceNumber`s: `start` first (there is no
 * `connected`; `start.callId`, `start.streamId`, `start.accountId`, `start.mediaFormat`, and the
 * XML's `extraHeaders` as `extra_headers`, read into `customParameters`), then `media`
 * (base64 audio in `contentType`'s format, about 20 ms each), `dtmf`, `playedStream` (a
 * `checkpoint` reached; ignored), `clearedAudio` (ignored). Plivo documents no `stop`: the stream
 * ends when Plivo closes the socket, which `answerCall`'s transport treats as the end of the call;
 * a `stop` some integrations send is read as the end too.
 *
 * Outbound, text frames: `playAudio` carrying the stream id and declaring its `contentType` and
 * `sampleRate`, in 20 ms packets; `clearAudio` on an interruption; `sendDTMF` for an
 * `OutputDTMFFrame`. An application's transport message is sent as it is, so it can send a
 * `checkpoint` (the serializer adds the `streamId` when the message has none) and read the
 * `playedStream` through its own means.
 *
 * The call's id (`call.callId`) is the `call_uuid` Plivo's REST API takes
 * (`PlivoCallControl`); {@link accountId} is the account (auth id) the stream belongs to.
 */
export class PlivoFrameSerializer extends TelephonySerializer {
  readonly provider = "plivo" as const;
  /** The stream's format, as the `<Stream>` element's `contentType` attribute writes it. */
  readonly contentType: PlivoContentType;
  #accountId: string | undefined;
  readonly #playMedia: { readonly contentType: string; readonly sampleRate: number };

  constructor(options: PlivoFrameSerializerOptions = {}) {
    const contentType = options.contentType ?? DEFAULT_PLIVO_CONTENT_TYPE;
    if (typeof contentType !== "string" || !Object.hasOwn(PLIVO_FORMATS, contentType)) {
      throw new InvalidOptionError(
        `PlivoFrameSerializer: contentType ${JSON.stringify(contentType)} is not one Plivo streams; use one of ` +
          `${PLIVO_CONTENT_TYPES.map((t) => JSON.stringify(t)).join(", ")}, the same as the contentType attribute of <Stream> in the Plivo XML`,
      );
    }
    const format = PLIVO_FORMATS[contentType];
    super({ inbound: format, outbound: format, packet: { packetBytes: wireBytes(format, 20) } }, options);
    this.contentType = contentType;
    this.#playMedia = {
      contentType: format.encoding === "mulaw" ? "audio/x-mulaw" : "audio/x-l16",
      sampleRate: format.sampleRate,
    };
  }

  /** The Plivo account (auth id) of the call, once `start` said it. */
  get accountId(): string | undefined {
    return this.#accountId;
  }

  protected readEvent(event: string, message: JsonObject, bytes: number): DeserializeResult {
    switch (event) {
      case "start":
        return this.#start(message, bytes);
      case "media": {
        const media = object(message.media);
        // A bidirectional stream forks the caller's track only; another track is not the caller.
        if (media.track !== undefined && media.track !== "inbound") return this.ignore();
        return this.media(media.payload, bytes);
      }
      case "dtmf": {
        const dtmf = object(message.dtmf);
        if (dtmf.track !== undefined && dtmf.track !== "inbound") return this.ignore();
        return this.dtmf(dtmf.digit, bytes);
      }
      case "playedStream": // a checkpoint's audio has played; the application's own business
      case "clearedAudio": // the answer to our clearAudio
        return this.ignore();
      case "stop": // not in Plivo's current protocol; some integrations still send it
        return this.streamStopped("the stream ended (stop)");
      default:
        return this.unknownEvent(event, bytes);
    }
  }

  protected audioMessage(packet: Uint8Array): SerializedMessage {
    return JSON.stringify({
      event: "playAudio",
      streamId: this.call!.streamId,
      media: { ...this.#playMedia, payload: encodeBase64(packet) },
    });
  }

  protected clearMessage(): SerializedMessage {
    return JSON.stringify({ event: "clearAudio", streamId: this.call!.streamId });
  }

  protected override dtmfMessage(keys: string): SerializedMessage {
    // Plivo refuses an empty sendDTMF; an OutputDTMFFrame without keys is a bug where it was made.
    if (keys === "")
      throw new FrameSerializeError(
        "plivo: an OutputDTMFFrame without keys; give it one or more keypad keys",
      );
    return JSON.stringify({ event: "sendDTMF", dtmf: keys });
  }

  protected override transportMessage(message: unknown): SerializedMessage | undefined {
    const m = object(message);
    if (m.event === "checkpoint" && m.streamId === undefined && this.call) {
      return super.transportMessage({ ...m, streamId: this.call.streamId });
    }
    return super.transportMessage(message);
  }

  protected override formatAdvice(expected: WireFormat): string {
    return (
      `set contentType="${this.contentType}" on the <Stream> element of the Plivo XML (left out, Plivo streams audio/x-l16;rate=8000), ` +
      `or give PlivoFrameSerializer the contentType the XML sets (voicepipe sends the bot's audio as ${describeFormat(expected)})`
    );
  }

  #start(message: JsonObject, bytes: number): DeserializeResult {
    const start = object(message.start);
    const callId = text(start.callId);
    const streamId = text(start.streamId) ?? text(message.streamId);
    if (!callId || !streamId) {
      return this.refuse("invalid", "a start message without start.callId and start.streamId", bytes);
    }
    const headers = parseExtraHeaders(message.extra_headers ?? start.extra_headers);
    const result = this.started(
      {
        callId,
        streamId,
        from: headers.params.from,
        to: headers.params.to,
        customParameters: headers.params,
      },
      plivoFormat(start.mediaFormat),
      bytes,
    );
    if (!result.ok) return result;
    this.#accountId = text(start.accountId);
    if (!headers.problem) return result;
    const problem = new FrameDeserializeError(this.provider, "invalid", headers.problem, bytes);
    return { ok: true, frames: [...result.frames, new ErrorFrame(problem, { processor: this.provider })] };
  }
}

/**
 * The format a Plivo `start.mediaFormat` names: a {@link WireFormat}, a description of one
 * voicepipe does not read, or undefined when the message names none.
 */
function plivoFormat(value: unknown): WireFormat | string | undefined {
  const format = object(value);
  if (format.encoding === undefined) return undefined;
  // Plivo sends a number; a numeric string is read too. No rate: Plivo's 8 kHz.
  const rate = format.sampleRate === undefined ? 8000 : wireNumber(format.sampleRate);
  const rateOk = Number.isInteger(rate) && rate >= 8000 && rate <= 48_000;
  if (format.encoding === "audio/x-mulaw" && rateOk) return { encoding: "mulaw", sampleRate: rate };
  if (format.encoding === "audio/x-l16" && rateOk) return { encoding: "l16", sampleRate: rate };
  return `${wireText(format.encoding)} at ${wireText(format.sampleRate ?? 8000, 20)} Hz`;
}
