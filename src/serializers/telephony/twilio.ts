import type { DeserializeResult, SerializedMessage } from "../frame-serializer.js";
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
import { type WireFormat, encodeBase64, wireBytes } from "./wire-audio.js";

/** Twilio Media Streams carry 8 kHz μ-law both ways. */
const TWILIO_FORMAT: WireFormat = { encoding: "mulaw", sampleRate: 8000 };

/**
 * Twilio Media Streams (`<Connect><Stream>`, bidirectional). Inbound: `connected`, `start`
 * (`streamSid`, `callSid`, `customParameters` from the TwiML's `<Parameter>`s, `mediaFormat`),
 * `media` (base64 μ-law), `dtmf`, `mark` (an echo), `stop`. Outbound, text frames only, each
 * carrying the `streamSid`: `media` in 20 ms packets, `clear` on an interruption.
 * Twilio's stream cannot send DTMF.
 */
export class TwilioFrameSerializer extends TelephonySerializer {
  readonly provider = "twilio" as const;

  constructor(options: TelephonySerializerOptions = {}) {
    super(
      {
        inbound: TWILIO_FORMAT,
        outbound: TWILIO_FORMAT,
        packet: { packetBytes: wireBytes(TWILIO_FORMAT, 20) },
      },
      options,
    );
  }

  protected readEvent(event: string, message: JsonObject, bytes: number): DeserializeResult {
    switch (event) {
      case "connected":
      case "mark":
        return this.ignore();
      case "start":
        return this.#start(message, bytes);
      case "media": {
        const media = object(message.media);
        // With <Connect>, Twilio sends the caller's track only; anything else is not the caller.
        if (media.track !== undefined && media.track !== "inbound") return this.ignore();
        return this.media(media.payload, bytes);
      }
      case "dtmf":
        return this.dtmf(object(message.dtmf).digit, bytes);
      case "stop":
        return this.streamStopped("the call ended (stop)");
      default:
        return this.unknownEvent(event, bytes);
    }
  }

  protected audioMessage(packet: Uint8Array): SerializedMessage {
    return JSON.stringify({
      event: "media",
      streamSid: this.call!.streamId,
      media: { payload: encodeBase64(packet) },
    });
  }

  protected clearMessage(): SerializedMessage {
    return JSON.stringify({ event: "clear", streamSid: this.call!.streamId });
  }

  #start(message: JsonObject, bytes: number): DeserializeResult {
    const start = object(message.start);
    const streamId = text(start.streamSid) ?? text(message.streamSid);
    const callId = text(start.callSid);
    if (!streamId || !callId) {
      return this.refuse("invalid", "a start message without start.streamSid and start.callSid", bytes);
    }
    const params = stringRecord(start.customParameters);
    return this.started(
      {
        callId,
        streamId,
        from: params.from_number ?? params.from,
        to: params.to_number ?? params.to,
        customParameters: params,
      },
      twilioFormat(start.mediaFormat),
      bytes,
    );
  }
}

/** The format a Twilio `start.mediaFormat` names. */
function twilioFormat(value: unknown): WireFormat | string | undefined {
  const format = object(value);
  if (format.encoding === undefined) return undefined;
  const rate = format.sampleRate === undefined ? 8000 : wireNumber(format.sampleRate);
  if (format.encoding === "audio/x-mulaw" && Number.isInteger(rate) && rate >= 1000) {
    return { encoding: "mulaw", sampleRate: rate };
  }
  return `${wireText(format.encoding)} at ${wireText(format.sampleRate ?? 8000, 20)} Hz`;
}
