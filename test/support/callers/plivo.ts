import { type CallerWire, MULAW_8K, b64, json, obj, readJsonEvents, epochMs } from "./wire.js";

/** Plivo audio streams: the answer asks for `contentType="audio/x-mulaw;rate=8000"`; no `connected`, no `stop`. */
export const plivoWire: CallerWire = {
  provider: "plivo",
  inbound: MULAW_8K,
  outbound: MULAW_8K,
  packets: { exactBytes: 160 },
  binaryAudio: false,
  hasStop: false,
  firstMessages(ids, declared) {
    return [
      JSON.stringify({
        event: "start",
        sequenceNumber: 1,
        start: {
          callId: ids.callId,
          streamId: ids.streamId,
          accountId: ids.accountId,
          tracks: ["inbound"],
          mediaFormat: declared.raw ?? {
            encoding: declared.format.encoding === "l16" ? "audio/x-l16" : "audio/x-mulaw",
            sampleRate: declared.format.sampleRate,
          },
        },
        extra_headers: "",
      }),
    ];
  },
  media(ids, payload, at) {
    return JSON.stringify({
      event: "media",
      sequenceNumber: at.seq,
      streamId: ids.streamId,
      // Plivo's media timestamp is wall-clock epoch milliseconds.
      media: { track: "inbound", timestamp: String(epochMs()), chunk: at.chunk, payload: b64(payload) },
      extra_headers: "",
    });
  },
  dtmf(ids, digit, seq) {
    return JSON.stringify({
      event: "dtmf",
      sequenceNumber: seq,
      streamId: ids.streamId,
      dtmf: { track: "inbound", digit, timestamp: String(epochMs()) },
    });
  },
  stop() {
    throw new Error("Plivo's stream has no stop message: the provider closes the socket");
  },
  read(ids, data, isBinary) {
    return readJsonEvents("Plivo", json(data, isBinary, "Plivo"), {
      streamId: ids.streamId,
      audioEvent: "playAudio",
      clearEvent: "clearAudio",
      audioCheck: (m) => {
        const media = obj(m.media);
        return media.contentType === "audio/x-mulaw" && Number(media.sampleRate) === 8000
          ? undefined
          : `playAudio declares ${JSON.stringify(media.contentType)} at ${JSON.stringify(media.sampleRate)}, not the stream's audio/x-mulaw at 8000`;
      },
    });
  },
  cleared(ids, seq) {
    return JSON.stringify({ event: "clearedAudio", sequenceNumber: seq, streamId: ids.streamId });
  },
  markPlayed(ids, name) {
    return JSON.stringify({ event: "playedStream", streamId: ids.streamId, name });
  },
};
