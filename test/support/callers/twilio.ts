import { type CallerFormat, type CallerWire, MULAW_8K, b64, json, readJsonEvents } from "./wire.js";

/** Twilio Media Streams (`<Connect><Stream>`): 8 kHz μ-law both ways, text frames only. */
export const twilioWire: CallerWire = {
  provider: "twilio",
  inbound: MULAW_8K,
  outbound: MULAW_8K,
  packets: { exactBytes: 160 },
  binaryAudio: false,
  hasStop: true,
  firstMessages(ids, declared) {
    const mediaFormat = declared.raw ?? {
      encoding: twilioEncoding(declared.format),
      sampleRate: declared.format.sampleRate,
      channels: 1,
    };
    return [
      JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }),
      JSON.stringify({
        event: "start",
        sequenceNumber: "1",
        streamSid: ids.streamId,
        start: {
          streamSid: ids.streamId,
          accountSid: ids.accountId,
          callSid: ids.callId,
          tracks: ["inbound"],
          customParameters: ids.customParameters,
          mediaFormat,
        },
      }),
    ];
  },
  media(ids, payload, at) {
    return JSON.stringify({
      event: "media",
      sequenceNumber: String(at.seq),
      streamSid: ids.streamId,
      media: {
        track: "inbound",
        chunk: String(at.chunk),
        timestamp: String(Math.round(at.timestampMs)),
        payload: b64(payload),
      },
    });
  },
  dtmf(ids, digit, seq) {
    return JSON.stringify({
      event: "dtmf",
      sequenceNumber: String(seq),
      streamSid: ids.streamId,
      dtmf: { track: "inbound_track", digit },
    });
  },
  stop(ids, seq) {
    return JSON.stringify({
      event: "stop",
      sequenceNumber: String(seq),
      streamSid: ids.streamId,
      stop: { accountSid: ids.accountId, callSid: ids.callId },
    });
  },
  read(ids, data, isBinary) {
    return readJsonEvents("Twilio", json(data, isBinary, "Twilio"), {
      idKey: "streamSid",
      streamId: ids.streamId,
      audioEvent: "media",
      clearEvent: "clear",
    });
  },
  markPlayed(ids, name, seq) {
    return JSON.stringify({
      event: "mark",
      sequenceNumber: String(seq),
      streamSid: ids.streamId,
      mark: { name },
    });
  },
};

function twilioEncoding(format: CallerFormat): string {
  return format.encoding === "mulaw"
    ? "audio/x-mulaw"
    : format.encoding === "alaw"
      ? "audio/x-alaw"
      : "audio/l16";
}
