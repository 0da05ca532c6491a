import { type CallerWire, MULAW_8K, b64, json, readJsonEvents } from "./wire.js";

/** Telnyx media streaming, bidirectional in `rtp` mode with PCMU at 8 kHz (the default codec). */
export const telnyxWire: CallerWire = {
  provider: "telnyx",
  inbound: MULAW_8K,
  outbound: MULAW_8K,
  packets: { exactBytes: 160 },
  binaryAudio: false,
  hasStop: true,
  firstMessages(ids, declared) {
    const codec = { mulaw: "PCMU", alaw: "PCMA", l16: "L16" }[declared.format.encoding];
    return [
      JSON.stringify({ event: "connected", version: "1.0.0" }),
      JSON.stringify({
        event: "start",
        sequence_number: "1",
        stream_id: ids.streamId,
        start: {
          user_id: ids.accountId,
          call_control_id: ids.callId,
          call_session_id: `session-${ids.callId}`,
          from: ids.from,
          to: ids.to,
          tags: [],
          client_state: "",
          custom_parameters: ids.customParameters,
          media_format: declared.raw ?? {
            encoding: codec,
            sample_rate: declared.format.sampleRate,
            channels: 1,
          },
        },
      }),
    ];
  },
  media(ids, payload, at) {
    return JSON.stringify({
      event: "media",
      sequence_number: String(at.seq),
      stream_id: ids.streamId,
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
      sequence_number: String(seq),
      stream_id: ids.streamId,
      occurred_at: new Date().toISOString(),
      dtmf: { digit },
    });
  },
  stop(ids, seq) {
    return JSON.stringify({
      event: "stop",
      sequence_number: String(seq),
      stream_id: ids.streamId,
      stop: { user_id: ids.accountId, call_control_id: ids.callId },
    });
  },
  read(ids, data, isBinary) {
    // Outbound media and clear carry no stream id on Telnyx.
    return readJsonEvents("Telnyx", json(data, isBinary, "Telnyx"), {
      streamId: ids.streamId,
      audioEvent: "media",
      clearEvent: "clear",
    });
  },
  markPlayed(ids, name, seq) {
    return JSON.stringify({
      event: "mark",
      sequence_number: String(seq),
      stream_id: ids.streamId,
      mark: { name },
    });
  },
};
