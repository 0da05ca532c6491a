import { InvalidOptionError } from "../../errors.js";
import type { DeserializeResult, SerializedMessage } from "../frame-serializer.js";
import {
  type JsonObject,
  TelephonySerializer,
  type TelephonySerializerOptions,
  object,
  stringRecord,
  text,
} from "./telephony-serializer.js";
import { type WireFormat, wireBytes } from "./wire-audio.js";
import { givenText } from "../../wire-values.js";

/** The rates a Vonage WebSocket runs at (the NCCO's `content-type`, `audio/l16;rate=N`). */
export const VONAGE_SAMPLE_RATES = [16000, 8000, 24000] as const;

/** A rate of {@link VONAGE_SAMPLE_RATES}. */
export type VonageSampleRate = (typeof VONAGE_SAMPLE_RATES)[number];

/** Options of {@link VonageFrameSerializer}. */
export interface VonageSerializerOptions extends TelephonySerializerOptions {
  /**
   * The stream's rate in Hz, both ways: the NCCO's `content-type` must say the same
   * (`audio/l16;rate=16000`). A `websocket:connected` that declares another rate is reported;
   * the caller's audio is then read at the declared rate, but voicepipe keeps sending at this one.
   * @default 16000
   */
  sampleRate?: VonageSampleRate;
}

/** Headers of `websocket:connected` that name the call's uuid (the NCCO's author chooses the name). */
const CALL_ID_HEADERS = ["call_uuid", "uuid", "callUuid", "call_id"] as const;

/**
 * Vonage Voice API WebSockets (an NCCO `connect` to a `websocket` endpoint). Audio travels as
 * BINARY messages of raw 16-bit little-endian PCM, events as JSON text. Inbound:
 * `websocket:connected` first (the `content-type` and the NCCO's `headers`: this is the call's
 * start), binary audio, `websocket:dtmf`, `websocket:cleared` (after a clear), `websocket:notify`
 * (an echo). There is no stop event: the socket closing ends the call (`answerCall`'s transport
 * treats it so). Outbound: audio in binary messages of exactly 20 ms (640 bytes at 16 kHz),
 * `{"action":"clear"}` on an interruption; an application sends `{"action":"notify",…}` as a
 * transport message. The stream cannot send DTMF.
 *
 * The NCCO's headers carry what the stream itself does not: the call's uuid (as `call_uuid` or
 * `uuid`, which `VonageCallControl` needs to hang up), the numbers (`from`/`caller`, `to`).
 * Every string header is in the call's `customParameters`.
 *
 * Vonage buffers at most about 3,072 messages (about 60 s) of outbound audio. The output transport
 * sends on its clock, one message per 20 ms tick (a late tick catches up a few chunks at most),
 * so Vonage's buffer holds a few messages, never near that bound.
 */
export class VonageFrameSerializer extends TelephonySerializer {
  readonly provider = "vonage" as const;

  constructor(options: VonageSerializerOptions = {}) {
    const sampleRate = options.sampleRate ?? 16000;
    if (!(VONAGE_SAMPLE_RATES as readonly number[]).includes(sampleRate)) {
      throw new InvalidOptionError(
        `vonage: sampleRate must be one of ${VONAGE_SAMPLE_RATES.join(", ")} (the NCCO's content-type audio/l16;rate=N), ` +
          `got ${givenText(options.sampleRate)}; leave it out for 16000`,
      );
    }
    const format: WireFormat = { encoding: "l16", sampleRate };
    super({ inbound: format, outbound: format, packet: { packetBytes: wireBytes(format, 20) } }, options);
  }

  protected readEvent(event: string, message: JsonObject, bytes: number): DeserializeResult {
    switch (event) {
      case "websocket:connected":
        return this.#connected(message, bytes);
      case "websocket:dtmf":
        return this.dtmf(message.digit ?? object(message.dtmf).digit, bytes);
      case "websocket:cleared":
      case "websocket:notify":
        return this.ignore();
      default:
        return this.unknownEvent(event, bytes);
    }
  }

  /** Caller audio: raw 16-bit PCM (an odd byte count is refused, in words, by the base). */
  protected override readBinary(data: Uint8Array): DeserializeResult {
    return this.audio(data, data.byteLength);
  }

  /** One packet of audio as one binary message. */
  protected audioMessage(packet: Uint8Array): SerializedMessage {
    return packet;
  }

  protected clearMessage(): SerializedMessage {
    return CLEAR;
  }

  #connected(message: JsonObject, bytes: number): DeserializeResult {
    const headers = stringRecord(message);
    delete headers.event;
    delete headers["content-type"];
    let callId = "";
    for (const name of CALL_ID_HEADERS) {
      const value = text(headers[name]);
      if (value) {
        callId = value;
        break;
      }
    }
    return this.started(
      {
        callId,
        streamId: "",
        from: text(headers.from) ?? text(headers.caller),
        to: text(headers.to) ?? text(headers.callee),
        customParameters: headers,
      },
      vonageFormat(message["content-type"]),
      bytes,
    );
  }
}

const CLEAR = JSON.stringify({ action: "clear" });

/**
 * The format a `content-type` such as `audio/l16;rate=16000` names; undefined when there is none
 * (the expected one stands); a description when voicepipe cannot decode it.
 */
function vonageFormat(value: unknown): WireFormat | string | undefined {
  if (value === undefined) return undefined;
  const said = typeof value === "string" ? value : JSON.stringify(value);
  const [mime = "", ...parameters] = said
    .toLowerCase()
    .split(";")
    .map((part) => part.trim());
  const rate = Number(parameters.find((p) => p.startsWith("rate="))?.slice(5) ?? Number.NaN);
  if (mime === "audio/l16" && Number.isInteger(rate) && rate >= 8000 && rate <= 48000) {
    return { encoding: "l16", sampleRate: rate };
  }
  return said.slice(0, 60);
}
