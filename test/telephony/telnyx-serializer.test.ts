/**
 * The Telnyx media-stream serializer against message fixtures written from Telnyx's
 * "Stream call media over WebSocket" page (connected, start, media, dtmf, mark, error, stop;
 * outbound media and clear) and the TeXML `<Stream>` bidirectional options.
 */
import { describe, expect, it } from "vitest";
import { decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw } from "../../src/audio/g711.js";
import type { EndTaskFrame } from "../../src/index.js";
import {
  BotStoppedSpeakingFrame,
  ErrorFrame,
  InputAudioRawFrame,
  InputDTMFFrame,
  InterruptionFrame,
  OutputAudioRawFrame,
  OutputDTMFFrame,
  OutputTransportMessageFrame,
  TTSStoppedFrame,
} from "../../src/index.js";
import { FrameSerializeError, type SerializedMessage } from "../../src/serializers/index.js";
import {
  TELEPHONY_PROVIDERS,
  TelephonyFormatError,
  TelnyxFrameSerializer,
  TelnyxStreamError,
  createTelephonySerializer,
  type TelnyxFrameSerializerOptions,
} from "../../src/telephony/index.js";

const STREAM_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC";
const CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg";

const connected = JSON.stringify({ event: "connected", version: "1.0.0" });

function start(
  mediaFormat: object | undefined = { encoding: "PCMU", sample_rate: 8000, channels: 1 },
): string {
  return JSON.stringify({
    event: "start",
    sequence_number: "1",
    stream_id: STREAM_ID,
    start: {
      user_id: "3E6F995F-85F7-4705-9741-53B116D28237",
      call_control_id: CALL_CONTROL_ID,
      call_session_id: "6c4d6e2a-0d5c-11ef-9b3a-02420a0daa69",
      from: "+15550100001",
      to: "+15550100002",
      tags: ["support"],
      client_state: "aGVsbG8=",
      custom_parameters: { lang: "en", attempt: 2 },
      ...(mediaFormat ? { media_format: mediaFormat } : {}),
    },
  });
}

/** Media chunk `chunk` (the caller's n-th packet); its sequence_number is `seq` (by default one past the chunk: start is 1). */
function media(chunk: number, payload: Uint8Array, track = "inbound", seq = chunk + 1): string {
  return JSON.stringify({
    event: "media",
    sequence_number: String(seq),
    stream_id: STREAM_ID,
    media: {
      track,
      chunk: String(chunk),
      timestamp: String(chunk * 20),
      payload: Buffer.from(payload).toString("base64"),
    },
  });
}

/** A media message numbered by sequence_number only (no chunk). */
function numberedMedia(seq: number, payload: Uint8Array, track = "inbound"): string {
  return JSON.stringify({
    event: "media",
    sequence_number: String(seq),
    stream_id: STREAM_ID,
    media: { track, payload: Buffer.from(payload).toString("base64") },
  });
}

function dtmf(seq: number, digit: string): string {
  return JSON.stringify({
    event: "dtmf",
    sequence_number: String(seq),
    stream_id: STREAM_ID,
    occurred_at: "2026-11-30T12:00:00Z",
    dtmf: { digit },
  });
}

/** The first μ-law byte of each audio frame in `frames`: which packet it was (tests fill packet n with byte n). */
function packetNumbers(frames: readonly unknown[]): number[] {
  return frames
    .filter((f): f is InputAudioRawFrame => f instanceof InputAudioRawFrame)
    .map((f) => encodeUlaw(f.audio.subarray(0, 1))[0]!);
}

/** A serializer that has read `connected` and `start`. */
function started(options: TelnyxFrameSerializerOptions = {}, startMessage = start()): TelnyxFrameSerializer {
  const s = new TelnyxFrameSerializer(options);
  expect(s.deserialize(connected)).toEqual({ ok: true, frames: [] });
  const result = s.deserialize(startMessage);
  expect(result.ok).toBe(true);
  return s;
}

function framesOf(s: TelnyxFrameSerializer, message: string) {
  const result = s.deserialize(message);
  if (!result.ok) throw result.error;
  return result.frames;
}

function ramp(n: number, step = 97): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => ((i * step) % 20000) - 10000);
}

function messages(out: SerializedMessage | readonly SerializedMessage[] | undefined): string[] {
  if (out === undefined) return [];
  return (Array.isArray(out) ? out : [out]).map((m) => {
    expect(typeof m).toBe("string");
    return m as string;
  });
}

function payloads(out: SerializedMessage | readonly SerializedMessage[] | undefined): Buffer[] {
  return messages(out).map((m) => {
    const parsed = JSON.parse(m) as { event: string; media: { payload: string } };
    expect(Object.keys(parsed)).toEqual(["event", "media"]);
    expect(parsed.event).toBe("media");
    expect(Object.keys(parsed.media)).toEqual(["payload"]);
    return Buffer.from(parsed.media.payload, "base64");
  });
}

describe("TelnyxFrameSerializer: reading the stream", () => {
  it("reads the call from start: stream_id at the top, call_control_id, numbers, custom parameters", () => {
    const s = started();
    expect(s.call).toEqual({
      provider: "telnyx",
      callId: CALL_CONTROL_ID,
      streamId: STREAM_ID,
      from: "+15550100001",
      to: "+15550100002",
      customParameters: { lang: "en" },
      inbound: { encoding: "mulaw", sampleRate: 8000 },
    });
    expect(s.name).toBe("telnyx");
    expect(s.binary).toBe(false);
  });

  it("refuses a start without stream_id or call_control_id, and a second start", () => {
    const s = new TelnyxFrameSerializer();
    const noCall = JSON.stringify({ event: "start", stream_id: STREAM_ID, start: {} });
    const refused = s.deserialize(noCall);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.detail).toContain("call_control_id");
    expect(s.call).toBeUndefined();
    s.deserialize(start());
    const again = s.deserialize(start());
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.error.detail).toContain("second start");
  });

  it("decodes PCMU media of the caller's track to 8 kHz audio", () => {
    const s = started();
    const pcm = ramp(160);
    const wire = encodeUlaw(pcm);
    const frames = framesOf(s, media(4, wire));
    expect(frames).toHaveLength(1);
    const frame = frames[0] as InputAudioRawFrame;
    expect(frame).toBeInstanceOf(InputAudioRawFrame);
    expect(frame.sampleRate).toBe(8000);
    expect(frame.numChannels).toBe(1);
    expect(frame.audio).toEqual(decodeUlaw(wire));
  });

  it("decodes PCMA media when the stream was set to PCMA", () => {
    const s = started({ inboundCodec: "PCMA" }, start({ encoding: "PCMA", sample_rate: 8000, channels: 1 }));
    const wire = encodeAlaw(ramp(160));
    const frame = framesOf(s, media(4, wire))[0] as InputAudioRawFrame;
    expect(frame.audio).toEqual(decodeAlaw(wire));
    expect(s.call?.inbound).toEqual({ encoding: "alaw", sampleRate: 8000 });
  });

  it("decodes L16 media as big-endian (RTP's order) at the declared rate, or little-endian when told", () => {
    const pcm = ramp(320);
    const be = Buffer.alloc(640);
    const le = Buffer.alloc(640);
    pcm.forEach((v, i) => {
      be.writeInt16BE(v, i * 2);
      le.writeInt16LE(v, i * 2);
    });
    const l16 = start({ encoding: "L16", sample_rate: 16000, channels: 1 });
    const s = started({ inboundCodec: "L16", inboundSampleRate: 16000 }, l16);
    const frame = framesOf(s, media(4, be))[0] as InputAudioRawFrame;
    expect(frame.sampleRate).toBe(16000);
    expect(frame.audio).toEqual(pcm);
    const little = started(
      { inboundCodec: "L16", inboundSampleRate: 16000, l16ByteOrder: "little-endian" },
      l16,
    );
    expect((framesOf(little, media(4, le))[0] as InputAudioRawFrame).audio).toEqual(pcm);
  });

  it("refuses L16 media of an odd byte count, bad base64 and a media message without a payload; the stream goes on", () => {
    const s = started({ inboundCodec: "L16" }, start({ encoding: "L16", sample_rate: 8000 }));
    expect(framesOf(s, media(3, new Uint8Array(320)))).toHaveLength(1);
    const odd = s.deserialize(media(4, new Uint8Array(321)));
    expect(odd.ok).toBe(false);
    if (!odd.ok) expect(odd.error.reason).toBe("invalid");
    const bad = s.deserialize(JSON.stringify({ event: "media", media: { chunk: "5", payload: "ab$=" } }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.detail).toContain("base64");
    const none = s.deserialize(JSON.stringify({ event: "media", media: { chunk: "6", track: "inbound" } }));
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.error.reason).toBe("malformed");
    // The refused packets leave a gap: the next ones are held until the window gives up on it (3 packets).
    const after = [7, 8, 9, 10].map((chunk) => framesOf(s, media(chunk, new Uint8Array(320))).length);
    expect(after).toEqual([0, 0, 0, 4]);
    expect(s.reorderStats).toMatchObject({ held: 0, late: 0, skipped: 3 });
  });

  it("ignores media of the bot's own track (both_tracks), and connected and mark messages", () => {
    const s = started();
    expect(framesOf(s, media(1, new Uint8Array(160).fill(0x55), "outbound"))).toEqual([]);
    const mark = JSON.stringify({
      event: "mark",
      sequence_number: "5",
      stream_id: STREAM_ID,
      mark: { name: "greeting-end" },
    });
    expect(framesOf(s, mark)).toEqual([]);
    expect(framesOf(s, media(1, new Uint8Array(160)))).toHaveLength(1);
  });

  it("turns a dtmf message into an InputDTMFFrame and refuses a digit that is not a key", () => {
    const s = started();
    const frames = framesOf(s, dtmf(4, "#"));
    expect(frames).toHaveLength(1);
    expect((frames[0] as InputDTMFFrame).button).toBe("#");
    const bad = s.deserialize(dtmf(5, "A"));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.detail).toContain("keypad");
  });

  it("reports Telnyx's error event once per code as a non-fatal ErrorFrame and counts the repeats", () => {
    const s = started();
    const error = (seq: number, code: number, title: string, detail: string) =>
      JSON.stringify({
        event: "error",
        sequence_number: String(seq),
        stream_id: STREAM_ID,
        payload: { code, title, detail },
      });
    const first = framesOf(s, error(4, 100004, "Invalid media", "Media payload is not valid base64"));
    expect(first).toHaveLength(1);
    const frame = first[0] as ErrorFrame;
    expect(frame).toBeInstanceOf(ErrorFrame);
    expect(frame.fatal).toBe(false);
    expect(frame.error).toBeInstanceOf(TelnyxStreamError);
    expect((frame.error as TelnyxStreamError).telnyxCode).toBe("100004");
    expect(frame.error.message).toContain("100004 (Invalid media): Media payload is not valid base64");
    expect(frame.error.message).toContain("bidirectionalCodec");
    for (let seq = 5; seq < 105; seq++) {
      expect(framesOf(s, error(seq, 100004, "Invalid media", "again"))).toEqual([]);
    }
    const other = framesOf(s, error(105, 100005, "Rate limit reached", "slow down"));
    expect(other).toHaveLength(1);
    expect((other[0] as ErrorFrame).error.message).toContain('bidirectionalMode="rtp"');
    expect([...s.streamErrors]).toEqual([
      ["100004", 101],
      ["100005", 1],
    ]);
  });

  it("counts error codes in a bounded table: past 15 codes, the rest together under 'other'", () => {
    const s = started();
    let reported = 0;
    for (let i = 0; i < 200; i++) {
      const message = JSON.stringify({ event: "error", payload: { code: 200000 + i, title: "x" } });
      reported += framesOf(s, message).length;
    }
    expect(s.streamErrors.size).toBe(16);
    expect(s.streamErrors.get("other")).toBe(185);
    expect(reported).toBe(16);
  });

  it("ends the task on stop, after the audio that was held for reordering", () => {
    const s = started();
    expect(framesOf(s, media(1, new Uint8Array(160)))).toHaveLength(1);
    expect(framesOf(s, media(3, new Uint8Array(160)))).toEqual([]); // 2 is missing: held
    const stop = JSON.stringify({
      event: "stop",
      sequence_number: "5",
      stream_id: STREAM_ID,
      stop: { user_id: "u", call_control_id: CALL_CONTROL_ID },
    });
    const frames = framesOf(s, stop);
    expect(frames.map((f) => f.constructor.name)).toEqual(["InputAudioRawFrame", "EndTaskFrame"]);
    expect((frames[1] as EndTaskFrame).reason).toContain("telnyx");
    expect(s.stopped).toBe(true);
    expect(framesOf(s, JSON.stringify({ event: "stop" }))).toEqual([]);
  });

  it("puts packets that came out of order back in order by media.chunk", () => {
    const s = started();
    const order: number[] = [];
    for (const chunk of [1, 3, 2, 5, 4, 6])
      order.push(...packetNumbers(framesOf(s, media(chunk, new Uint8Array(160).fill(chunk)))));
    expect(order).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.reorderStats).toEqual({
      held: 0,
      late: 0,
      duplicates: 0,
      skipped: 0,
      restarts: 0,
      unnumbered: 0,
    });
  });

  it("follows the packets' place in the audio (chunk), not the order the messages were numbered in", () => {
    // A sender that numbers messages as it sends them numbers a swapped pair in the swapped order.
    const s = started();
    const order: number[] = [];
    for (const [chunk, seq] of [
      [1, 2],
      [3, 3],
      [2, 4],
      [4, 5],
    ] as const) {
      order.push(
        ...packetNumbers(framesOf(s, media(chunk, new Uint8Array(160).fill(chunk), "inbound", seq))),
      );
    }
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it("does not hold audio when sequence numbers skip (messages numbered but not sent on this socket)", () => {
    const s = started();
    const counts: number[] = [];
    for (let chunk = 1; chunk <= 6; chunk++) {
      counts.push(framesOf(s, media(chunk, new Uint8Array(160), "inbound", chunk * 2)).length);
    }
    expect(counts).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("orders by chunk, so DTMF, marks and errors between packets (which take sequence numbers) delay nothing", () => {
    const s = started();
    const out: string[] = [];
    const read = (message: string) => out.push(...framesOf(s, message).map((f) => f.constructor.name));
    read(media(1, new Uint8Array(160), "inbound", 2));
    read(dtmf(3, "5"));
    read(JSON.stringify({ event: "mark", sequence_number: "4", mark: { name: "m" } }));
    read(media(2, new Uint8Array(160), "inbound", 5));
    expect(out).toEqual(["InputAudioRawFrame", "InputDTMFFrame", "InputAudioRawFrame"]);
    expect(s.reorderStats.held).toBe(0);
  });

  it("drops a packet that comes after the window gave up on it, and counts it", () => {
    const s = started();
    expect(framesOf(s, media(1, new Uint8Array(160)))).toHaveLength(1);
    for (const chunk of [3, 4, 5]) expect(framesOf(s, media(chunk, new Uint8Array(160)))).toEqual([]);
    expect(framesOf(s, media(6, new Uint8Array(160)))).toHaveLength(4); // 2 given up
    expect(framesOf(s, media(2, new Uint8Array(160)))).toEqual([]);
    expect(s.reorderStats).toMatchObject({ held: 0, late: 1, skipped: 1 });
  });

  it("hears the caller again half a second after the chunk numbering starts again lower", () => {
    const s = started();
    for (let chunk = 500; chunk < 510; chunk++)
      expect(framesOf(s, media(chunk, new Uint8Array(160)))).toHaveLength(1);
    const counts: number[] = [];
    for (let chunk = 1; chunk <= 30; chunk++)
      counts.push(framesOf(s, media(chunk, new Uint8Array(160))).length);
    expect(counts).toEqual([...Array<number>(24).fill(0), ...Array<number>(6).fill(1)]);
    expect(s.reorderStats).toMatchObject({ late: 24, restarts: 1 });
  });

  it("orders by sequence_number when media carry no chunk; then DTMF and marks take their places too", () => {
    const s = started();
    const order: (number | string)[] = [];
    const read = (message: string) => {
      for (const f of framesOf(s, message))
        order.push(f instanceof InputDTMFFrame ? f.button : packetNumbers([f])[0]!);
    };
    read(numberedMedia(2, new Uint8Array(160).fill(2)));
    read(numberedMedia(4, new Uint8Array(160).fill(4))); // 3 not here yet: held
    read(dtmf(3, "7")); // 3 fills the gap
    read(JSON.stringify({ event: "mark", sequence_number: "5", mark: { name: "m" } }));
    read(numberedMedia(7, new Uint8Array(160).fill(7), "outbound")); // the bot's track: a place, no audio
    read(numberedMedia(8, new Uint8Array(160).fill(8))); // 6 missing: held
    read(numberedMedia(6, new Uint8Array(160).fill(6)));
    expect(order).toEqual([2, "7", 4, 6, 8]);
    expect(s.reorderStats).toEqual({
      held: 0,
      late: 0,
      duplicates: 0,
      skipped: 0,
      restarts: 0,
      unnumbered: 0,
    });
  });

  it("passes on media that carry no number at all, counting them", () => {
    const s = started();
    const bare = JSON.stringify({
      event: "media",
      media: { payload: Buffer.from(new Uint8Array(160)).toString("base64") },
    });
    expect(framesOf(s, bare)).toHaveLength(1);
    expect(s.reorderStats.unnumbered).toBe(1);
  });

  it("adopts a declared format other than the configured one, reporting it once (non-fatal)", () => {
    const s = new TelnyxFrameSerializer(); // expects PCMU
    const result = s.deserialize(start({ encoding: "PCMA", sample_rate: 8000, channels: 1 }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.frames).toHaveLength(1);
    const error = result.frames[0] as ErrorFrame;
    expect(error.fatal).toBe(false);
    expect(error.error).toBeInstanceOf(TelephonyFormatError);
    expect(error.error.message).toContain("8 kHz A-law, not the expected 8 kHz μ-law");
    const wire = encodeAlaw(ramp(160));
    expect((framesOf(s, media(4, wire))[0] as InputAudioRawFrame).audio).toEqual(decodeAlaw(wire));
  });

  it("ends the call with a fatal ErrorFrame when the stream declares G722 (or OPUS, AMR-WB)", () => {
    for (const encoding of ["G722", "OPUS", "AMR-WB"]) {
      const s = new TelnyxFrameSerializer();
      const result = s.deserialize(start({ encoding, sample_rate: 16000, channels: 1 }));
      expect(result.ok).toBe(true);
      if (!result.ok) continue;
      const error = result.frames[0] as ErrorFrame;
      expect(error.fatal).toBe(true);
      expect(error.error.message).toContain(`${encoding} at 16000 Hz, which voicepipe cannot decode`);
      expect(error.error.message).toContain("8 kHz μ-law");
    }
  });

  it("takes a declared L16 rate and treats G.711 at another rate as unreadable", () => {
    const l16 = new TelnyxFrameSerializer({ inboundCodec: "L16" });
    l16.deserialize(start({ encoding: "L16", sample_rate: 24000 }));
    expect(l16.call?.inbound).toEqual({ encoding: "l16", sampleRate: 24000 });
    const odd = new TelnyxFrameSerializer();
    const result = odd.deserialize(start({ encoding: "PCMU", sample_rate: 16000 }));
    expect(result.ok && (result.frames[0] as ErrorFrame).fatal).toBe(true);
  });
});

describe("TelnyxFrameSerializer: writing the stream", () => {
  async function ready(
    options: TelnyxFrameSerializerOptions,
    outRate: number,
  ): Promise<TelnyxFrameSerializer> {
    const s = started(options);
    await s.setup({ audioInSampleRate: 16000, audioOutSampleRate: outRate });
    return s;
  }

  it.each([
    { codec: "PCMU", rate: 8000, bytes: 160 },
    { codec: "PCMA", rate: 8000, bytes: 160 },
    { codec: "L16", rate: 8000, bytes: 320 },
    { codec: "L16", rate: 16000, bytes: 640 },
    { codec: "L16", rate: 24000, bytes: 960 },
  ] as const)(
    "sends $codec at $rate Hz in 20 ms media messages of $bytes bytes, without a stream id",
    async ({ codec, rate, bytes }) => {
      const s = await ready({ bidirectionalCodec: codec, bidirectionalSamplingRate: rate }, 24000);
      const sent: Buffer[] = [];
      for (let i = 0; i < 10; i++)
        sent.push(...payloads(s.serialize(new OutputAudioRawFrame(ramp(480), 24000, 1))));
      sent.push(...payloads(s.serialize(new TTSStoppedFrame())));
      expect(sent.length).toBeGreaterThanOrEqual(9);
      for (const p of sent) expect(p.byteLength).toBe(bytes);
      s.dispose();
    },
  );

  it("resamples 24 kHz pipeline output to 8 kHz μ-law: 200 ms in, ten 160-byte packets out, same signal", async () => {
    const s = await ready({}, 24000);
    const tone = (n: number, offset: number) =>
      Int16Array.from({ length: n }, (_, i) =>
        Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i + offset)) / 24000)),
      );
    const sent: Buffer[] = [];
    for (let i = 0; i < 10; i++)
      sent.push(...payloads(s.serialize(new OutputAudioRawFrame(tone(480, i * 480), 24000, 1))));
    sent.push(...payloads(s.serialize(new BotStoppedSpeakingFrame())));
    expect(sent.map((p) => p.byteLength)).toEqual(Array(sent.length).fill(160));
    const decoded = decodeUlaw(Buffer.concat(sent.slice(2, 8)));
    const rms = Math.sqrt(decoded.reduce((a, v) => a + v * v, 0) / decoded.length);
    expect(rms).toBeGreaterThan(8000 * 0.7 * 0.9); // a 440 Hz tone keeps its level through the resampler
    expect(rms).toBeLessThan(8000 * 0.71 * 1.1);
    s.dispose();
  });

  it("writes L16 big-endian (little-endian when told), sample for sample at the stream's rate", async () => {
    const pcm = ramp(320);
    const big = await ready({ bidirectionalCodec: "L16", bidirectionalSamplingRate: 16000 }, 16000);
    const [packet] = payloads(big.serialize(new OutputAudioRawFrame(pcm, 16000, 1)));
    expect(Array.from(pcm, (_, i) => packet!.readInt16BE(i * 2))).toEqual(Array.from(pcm));
    const little = await ready(
      { bidirectionalCodec: "L16", bidirectionalSamplingRate: 16000, l16ByteOrder: "little-endian" },
      16000,
    );
    const [lePacket] = payloads(little.serialize(new OutputAudioRawFrame(pcm, 16000, 1)));
    expect(Array.from(pcm, (_, i) => lePacket!.readInt16LE(i * 2))).toEqual(Array.from(pcm));
  });

  it("pads the last partial packet with silence at the end of an answer", async () => {
    const s = await ready({}, 8000);
    expect(s.serialize(new OutputAudioRawFrame(ramp(100), 8000, 1))).toBeUndefined();
    const [tail] = payloads(s.serialize(new TTSStoppedFrame()));
    expect(tail!.byteLength).toBe(160);
    expect([...tail!.subarray(100)].every((b) => b === 0xff)).toBe(true);
  });

  it('sends {"event":"clear"} on an interruption, and drops the partial packet', async () => {
    const s = await ready({}, 8000);
    s.serialize(new OutputAudioRawFrame(ramp(100), 8000, 1));
    expect(s.serialize(new InterruptionFrame())).toBe('{"event":"clear"}');
    expect(s.serialize(new TTSStoppedFrame())).toBeUndefined();
    const before = new TelnyxFrameSerializer();
    expect(before.serialize(new InterruptionFrame())).toBeUndefined();
  });

  it("sends an application's mark as it is, and cannot send DTMF on the stream", async () => {
    const s = await ready({}, 8000);
    const mark = { event: "mark", mark: { name: "greeting-end" } };
    expect(s.serialize(new OutputTransportMessageFrame(mark))).toBe(JSON.stringify(mark));
    expect(() => s.serialize(new OutputDTMFFrame(["1"]))).toThrow(FrameSerializeError);
    expect(() => s.serialize(new OutputDTMFFrame(["1"]))).toThrow(/cannot send DTMF/);
  });

  it("refuses outbound audio before start (no call yet), counting it", () => {
    const s = new TelnyxFrameSerializer();
    expect(s.serialize(new OutputAudioRawFrame(ramp(160), 8000, 1))).toBeUndefined();
    expect(s.audioBeforeStart).toBe(1);
  });
});

describe("TelnyxFrameSerializer: options", () => {
  it("names the TeXML <Stream> attributes that match it", () => {
    expect(new TelnyxFrameSerializer().streamAttributes).toEqual({
      codec: "PCMU",
      bidirectionalMode: "rtp",
      bidirectionalCodec: "PCMU",
      bidirectionalSamplingRate: "8000",
    });
    const l16 = new TelnyxFrameSerializer({
      inboundCodec: "PCMA",
      bidirectionalCodec: "L16",
      bidirectionalSamplingRate: 24000,
    });
    expect(l16.streamAttributes).toMatchObject({
      codec: "PCMA",
      bidirectionalCodec: "L16",
      bidirectionalSamplingRate: "24000",
    });
    expect(l16.outbound).toEqual({ encoding: "l16", sampleRate: 24000 });
  });

  it.each([
    [
      { bidirectionalCodec: "PCMU", bidirectionalSamplingRate: 16000 },
      /bidirectionalSamplingRate 16000 with PCMU: G\.711 \(PCMU, PCMA\) is 8000 Hz only/,
    ],
    [{ inboundCodec: "PCMA", inboundSampleRate: 24000 }, /inboundSampleRate 24000 with PCMA/],
    [{ bidirectionalSamplingRate: 44100 }, /must be 8000, 16000 or 24000 Hz \(got 44100\)/],
    [{ bidirectionalCodec: "G722" }, /bidirectionalCodec must be "PCMU", "PCMA" or "L16" \(got "G722"\)/],
    [{ inboundCodec: "OPUS" }, /does not decode G722, OPUS or AMR-WB/],
    [{ l16ByteOrder: "middle" }, /l16ByteOrder/],
    [{ reorderWindow: -1 }, /reorderWindow must be a whole number of messages from 0 to 50/],
    [{ reorderWindow: 1.5 }, /reorderWindow/],
  ])("refuses %j in words", (options, message) => {
    expect(() => new TelnyxFrameSerializer(options as TelnyxFrameSerializerOptions)).toThrow(message);
    try {
      new TelnyxFrameSerializer(options as TelnyxFrameSerializerOptions);
    } catch (error) {
      expect((error as { code?: string }).code).toBe("VP_INVALID_OPTION");
    }
  });

  it("is registered: createTelephonySerializer('telnyx') makes one, TELEPHONY_PROVIDERS lists it", () => {
    expect(TELEPHONY_PROVIDERS).toContain("telnyx");
    const s = createTelephonySerializer("telnyx");
    expect(s).toBeInstanceOf(TelnyxFrameSerializer);
    expect(s.provider).toBe("telnyx");
    expect(s.outbound).toEqual({ encoding: "mulaw", sampleRate: 8000 });
  });
});
