import { type CallerWire, json } from "./wire.js";

/** Vonage's WebSocket endpoint (`audio/l16;rate=16000`): binary 20 ms L16 frames both ways, JSON text events. */
export const vonageWire: CallerWire = {
  provider: "vonage",
  inbound: { encoding: "l16", sampleRate: 16_000 },
  outbound: { encoding: "l16", sampleRate: 16_000 },
  packets: { exactBytes: 640 },
  binaryAudio: true,
  hasStop: false,
  firstMessages(ids, declared) {
    // The NCCO's `headers` come back in the first message, beside the content type: the answer
    // webhook's call uuid and numbers, as the development server's NCCO names them.
    return [
      JSON.stringify({
        event: "websocket:connected",
        "content-type": declared.raw ?? `audio/l16;rate=${declared.format.sampleRate}`,
        call_uuid: ids.callId,
        conversation_uuid: `CON-${ids.callId}`,
        from: ids.from,
        to: ids.to,
        ...ids.customParameters,
      }),
    ];
  },
  media(_ids, payload) {
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  },
  dtmf(_ids, digit) {
    return JSON.stringify({ event: "websocket:dtmf", digit, duration: 260 });
  },
  stop() {
    throw new Error("Vonage's stream has no stop message: the provider closes the socket");
  },
  read(_ids, data, isBinary) {
    if (isBinary) {
      if (data.byteLength % 2 !== 0)
        return { kind: "violation", why: `a binary frame of ${data.byteLength} bytes: half a sample` };
      return { kind: "audio", bytes: new Uint8Array(data) };
    }
    const message = json(data, false, "Vonage");
    if (typeof message === "string") return { kind: "violation", why: message };
    if (message.action === "clear") return { kind: "clear" };
    if (message.action === "notify") return { kind: "mark", name: JSON.stringify(message.payload ?? null) };
    if (typeof message.action === "string") return { kind: "other", event: message.action };
    return {
      kind: "violation",
      why: `a text message without an "action": ${data.toString("utf8").slice(0, 80)}`,
    };
  },
  cleared() {
    return JSON.stringify({ event: "websocket:cleared" });
  },
  markPlayed(_ids, name) {
    return JSON.stringify({ event: "websocket:notify", payload: JSON.parse(name) as unknown });
  },
};
