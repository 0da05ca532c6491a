import { type CallerWire, b64, json, readJsonEvents } from "./wire.js";

/** Exotel's voicebot stream: base64 16-bit PCM at 8 kHz both ways; outbound in multiples of 320 bytes, ≥ 3,200. */
export const exotelWire: CallerWire = {
  provider: "exotel",
  inbound: { encoding: "l16", sampleRate: 8000 },
  outbound: { encoding: "l16", sampleRate: 8000 },
  packets: { multipleOf: 320, minBytes: 3200, maxBytes: 100_000 },
  binaryAudio: false,
  hasStop: true,
  firstMessages(ids, declared) {
    return [
      JSON.stringify({ event: "connected" }),
      JSON.stringify({
        event: "start",
        sequence_number: 1,
        stream_sid: ids.streamId,
        start: {
          stream_sid: ids.streamId,
          call_sid: ids.callId,
          account_sid: ids.accountId,
          from: ids.from,
          to: ids.to,
          custom_parameters: ids.customParameters,
          media_format: declared.raw ?? {
            encoding: "base64",
            sample_rate: String(declared.format.sampleRate),
            bit_rate: `${(declared.format.sampleRate * 16) / 1000}kbps`,
          },
        },
      }),
    ];
  },
  media(ids, payload, at) {
    return JSON.stringify({
      event: "media",
      sequence_number: at.seq,
      stream_sid: ids.streamId,
      media: { chunk: at.chunk, timestamp: String(Math.round(at.timestampMs)), payload: b64(payload) },
    });
  },
  dtmf(ids, digit, seq) {
    return JSON.stringify({
      event: "dtmf",
      sequence_number: seq,
      stream_sid: ids.streamId,
      dtmf: { digit, duration: "200" },
    });
  },
  stop(ids, seq) {
    return JSON.stringify({
      event: "stop",
      sequence_number: seq,
      stream_sid: ids.streamId,
      stop: { call_sid: ids.callId, account_sid: ids.accountId, reason: "callended" },
    });
  },
  read(ids, data, isBinary) {
    return readJsonEvents("Exotel", json(data, isBinary, "Exotel"), {
      idKey: "stream_sid",
      streamId: ids.streamId,
      audioEvent: "media",
      clearEvent: "clear",
    });
  },
  markPlayed(ids, name, seq) {
    return JSON.stringify({ event: "mark", sequence_number: seq, stream_sid: ids.streamId, mark: { name } });
  },
};
