/**
 * Exotel voicebot streams, against message fixtures written from Exotel's documentation
 * (developer.exotel.com "Stream and Voicebot applet", exotel/Agent-Stream's protocol notes):
 * snake_case JSON, base64 of 16-bit little-endian PCM, outbound media a multiple of 320 bytes and
 * at least 3,200.
 */
import { describe, expect, it } from "vitest";
import {
  BotStoppedSpeakingFrame,
  EndTaskFrame,
  ErrorFrame,
  InputAudioRawFrame,
  InputDTMFFrame,
  InterruptionFrame,
  OutputAudioRawFrame,
  OutputDTMFFrame,
  OutputTransportMessageFrame,
  SystemClock,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  VirtualClock,
} from "../../src/index.js";
import { FrameSerializeError } from "../../src/serializers/frame-serializer.js";
import { ExotelFrameSerializer } from "../../src/serializers/telephony/exotel.js";
import { TelephonyFormatError } from "../../src/serializers/telephony/telephony-serializer.js";
import { createTelephonySerializer } from "../../src/telephony/serializers.js";
import { tone } from "../support/audio.js";
import { loopbackCall } from "./call-harness.js";

const CONNECTED = JSON.stringify({ event: "connected" });
/** protocols.md §2.4's start: sequence number a number, sample_rate a string, encoding "base64". */
const START = JSON.stringify({
  event: "start",
  sequence_number: 1,
  stream_sid: "S1",
  start: {
    stream_sid: "S1",
    call_sid: "C1",
    account_sid: "A1",
    from: "+919900000000",
    to: "+918000000000",
    custom_parameters: { campaign: "x" },
    media_format: { encoding: "base64", sample_rate: "8000", bit_rate: "128kbps" },
  },
});

function startWith(mediaFormat: unknown): string {
  return JSON.stringify({
    event: "start",
    sequence_number: "1",
    start: { stream_sid: "S1", call_sid: "C1", account_sid: "A1", media_format: mediaFormat },
  });
}

const pcmBytes = (samples: Int16Array): Buffer =>
  Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
const media = (payload: string, sequence: number | string = 3) =>
  JSON.stringify({
    event: "media",
    sequence_number: sequence,
    stream_sid: "S1",
    media: { chunk: 1, timestamp: "100", payload },
  });

function started(
  options: ConstructorParameters<typeof ExotelFrameSerializer>[0] = {},
): ExotelFrameSerializer {
  const serializer = new ExotelFrameSerializer(options);
  expect(serializer.deserialize(CONNECTED)).toEqual({ ok: true, frames: [] });
  const result = serializer.deserialize(START.replace('"8000"', `"${options.sampleRate ?? 8000}"`));
  expect(result.ok).toBe(true);
  return serializer;
}

/** Every message's decoded payload, checked to be an Exotel media message for stream S1. */
function payloads(messages: unknown): Buffer[] {
  const list = messages === undefined ? [] : Array.isArray(messages) ? messages : [messages];
  return list.map((m) => {
    expect(typeof m).toBe("string");
    const parsed = JSON.parse(m as string) as {
      event: string;
      stream_sid: string;
      media: { payload: string };
    };
    expect(Object.keys(parsed)).toEqual(["event", "stream_sid", "media"]);
    expect(parsed.event).toBe("media");
    expect(parsed.stream_sid).toBe("S1");
    expect(Object.keys(parsed.media)).toEqual(["payload"]);
    return Buffer.from(parsed.media.payload, "base64");
  });
}

/** Feeds `audio` in `chunkMs` frames at `rate`; returns the packets that went out. */
function feed(serializer: ExotelFrameSerializer, audio: Int16Array, rate: number, chunkMs = 20): Buffer[] {
  const step = (rate * chunkMs) / 1000;
  const out: Buffer[] = [];
  for (let at = 0; at < audio.length; at += step) {
    out.push(...payloads(serializer.serialize(new OutputAudioRawFrame(audio.subarray(at, at + step), rate))));
  }
  return out;
}

describe("ExotelFrameSerializer: inbound", () => {
  it("knows the call from start: ids, numbers, custom parameters, 8 kHz 16-bit PCM", () => {
    const serializer = new ExotelFrameSerializer();
    expect(serializer.deserialize(CONNECTED)).toEqual({ ok: true, frames: [] });
    expect(serializer.call).toBeUndefined();
    const result = serializer.deserialize(START);
    expect(result).toEqual({ ok: true, frames: [] });
    expect(serializer.call).toEqual({
      provider: "exotel",
      callId: "C1",
      streamId: "S1",
      from: "+919900000000",
      to: "+918000000000",
      customParameters: { campaign: "x" },
      inbound: { encoding: "l16", sampleRate: 8000 },
    });
  });

  it("reads the spellings Exotel's samples use: sample_rate as a number, encoding linear16, string sequence numbers", () => {
    for (const format of [
      { encoding: "linear16", sample_rate: 8000, bit_rate: 16 },
      { encoding: "slin", sample_rate: "8k" },
      { encoding: "audio/L16;rate=8000" },
      { encoding: "base64", sampleRate: "8000" },
      { sample_rate: "8000" },
      {},
    ]) {
      const serializer = new ExotelFrameSerializer();
      const result = serializer.deserialize(startWith(format));
      expect(result, JSON.stringify(format)).toEqual({ ok: true, frames: [] });
      expect(serializer.inbound).toEqual({ encoding: "l16", sampleRate: 8000 });
    }
  });

  it("takes the ids in camelCase or from the top level, and a start with a call_sid but no stream_sid (with a warning)", () => {
    const camel = new ExotelFrameSerializer();
    camel.deserialize(JSON.stringify({ event: "start", start: { streamSid: "S9", callSid: "C9" } }));
    expect(camel.call).toMatchObject({ streamId: "S9", callId: "C9" });

    const top = new ExotelFrameSerializer();
    top.deserialize(JSON.stringify({ event: "start", stream_sid: "S8", start: { call_sid: "C8" } }));
    expect(top.call).toMatchObject({ streamId: "S8", callId: "C8" });

    // exotel/Agent-Stream's WEBSOCKET_PROTOCOL.md start carries no stream_sid at all.
    const bare = new ExotelFrameSerializer();
    const result = bare.deserialize(
      JSON.stringify({
        event: "start",
        sequence_number: "1",
        start: { call_sid: "abc123", account_sid: "xyz789" },
      }),
    );
    expect(bare.call).toMatchObject({ streamId: "", callId: "abc123" });
    expect(result.ok && result.frames).toHaveLength(1);
    const warning = (result.ok ? result.frames[0] : undefined) as ErrorFrame;
    expect(warning).toBeInstanceOf(ErrorFrame);
    expect(warning.fatal).toBe(false);
    expect(warning.error.message).toMatch(/no stream_sid/);
  });

  it("refuses a start that names neither a stream nor a call, and a second start", () => {
    const serializer = new ExotelFrameSerializer();
    const none = serializer.deserialize(JSON.stringify({ event: "start", start: { from: "+1" } }));
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.error.message).toMatch(/stream_sid or start.call_sid/);
    expect(serializer.call).toBeUndefined();
    serializer.deserialize(START);
    const again = serializer.deserialize(START);
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.error.message).toMatch(/second start/);
  });

  it("decodes media as 16-bit little-endian PCM at the stream's rate, whatever the type of sequence_number", () => {
    const serializer = started();
    const samples = tone(20, 8000);
    for (const sequence of [3, "3"]) {
      const result = serializer.deserialize(media(pcmBytes(samples).toString("base64"), sequence));
      expect(result.ok).toBe(true);
      const frame = (result.ok ? result.frames[0] : undefined) as InputAudioRawFrame;
      expect(frame).toBeInstanceOf(InputAudioRawFrame);
      expect(frame.sampleRate).toBe(8000);
      expect(Array.from(frame.audio)).toEqual(Array.from(samples));
    }
  });

  it("reads media at 16 and 24 kHz when the stream URL asked for them", () => {
    for (const rate of [16000, 24000] as const) {
      const serializer = started({ sampleRate: rate });
      expect(serializer.inbound).toEqual({ encoding: "l16", sampleRate: rate });
      const result = serializer.deserialize(media(pcmBytes(tone(20, rate)).toString("base64")));
      expect(result.ok && (result.frames[0] as InputAudioRawFrame).sampleRate).toBe(rate);
    }
  });

  it("refuses, in words, media with an odd byte count, bad base64 or no payload", () => {
    const serializer = started();
    const odd = serializer.deserialize(media(Buffer.alloc(321).toString("base64")));
    expect(odd.ok).toBe(false);
    if (!odd.ok) {
      expect(odd.error.reason).toBe("invalid");
      expect(odd.error.message).toMatch(/321 bytes is not a whole number of 16-bit samples/);
    }
    const bad = serializer.deserialize(media("not base64!"));
    expect(!bad.ok && bad.error.reason).toBe("invalid");
    const none = serializer.deserialize(JSON.stringify({ event: "media", media: {} }));
    expect(!none.ok && none.error.reason).toBe("malformed");
  });

  it("turns dtmf into an InputDTMFFrame and refuses a digit that is not a key", () => {
    const serializer = started();
    const result = serializer.deserialize(
      JSON.stringify({
        event: "dtmf",
        sequence_number: 50,
        stream_sid: "S1",
        dtmf: { digit: "5", duration: "200" },
      }),
    );
    expect(result.ok && result.frames).toEqual([expect.any(InputDTMFFrame)]);
    expect(result.ok && (result.frames[0] as InputDTMFFrame).button).toBe("5");
    const bad = serializer.deserialize(JSON.stringify({ event: "dtmf", dtmf: { digit: "A" } }));
    expect(!bad.ok && bad.error.message).toMatch(/not a keypad key/);
  });

  it("ignores mark and clear echoes", () => {
    const serializer = started();
    for (const message of [
      { event: "mark", sequence_number: 75, stream_sid: "S1", mark: { name: "greeting-end" } },
      { event: "clear", stream_sid: "S1" },
    ]) {
      expect(serializer.deserialize(JSON.stringify(message))).toEqual({ ok: true, frames: [] });
    }
  });

  it("ends the task by its normal end path on stop, with Exotel's reason in the text, once", () => {
    const serializer = started();
    const stop = JSON.stringify({
      event: "stop",
      sequence_number: 100,
      stream_sid: "S1",
      stop: { call_sid: "C1", account_sid: "A1", reason: "callended" },
    });
    const result = serializer.deserialize(stop);
    expect(result.ok && result.frames).toHaveLength(1);
    const end = (result.ok ? result.frames[0] : undefined) as EndTaskFrame;
    expect(end).toBeInstanceOf(EndTaskFrame);
    expect(end.reason).toMatch(/exotel: the call ended \(stop: "callended"\)/);
    expect(serializer.stopped).toBe(true);
    expect(serializer.deserialize(stop)).toEqual({ ok: true, frames: [] });
  });

  it("refuses an unknown event, broken JSON and binary messages without ending anything", () => {
    const serializer = started();
    const unknown = serializer.deserialize(JSON.stringify({ event: "transcript" }));
    expect(!unknown.ok && unknown.error.reason).toBe("unknown-type");
    const broken = serializer.deserialize('{"event":"media",');
    expect(!broken.ok && broken.error.reason).toBe("malformed");
    const binary = serializer.deserialize(new Uint8Array(320));
    expect(!binary.ok && binary.error.reason).toBe("unknown-type");
    expect(serializer.deserialize(media(pcmBytes(tone(20, 8000)).toString("base64"))).ok).toBe(true);
  });

  it("adopts a declared format other than the expected one and says so; ends the call on one it cannot decode", () => {
    const other = new ExotelFrameSerializer();
    const result = other.deserialize(startWith({ encoding: "base64", sample_rate: "16000" }));
    const error = (result.ok ? result.frames[0] : undefined) as ErrorFrame;
    expect(error.error).toBeInstanceOf(TelephonyFormatError);
    expect(error.fatal).toBe(false);
    expect(error.error.message).toMatch(/16 kHz 16-bit PCM \(L16\), not the expected 8 kHz/);
    // Exotel has no answer document: the rate is the applet URL's ?sample-rate=, which the serializer must be given.
    expect(error.error.message).not.toMatch(/answer document/);
    expect(error.error.message).toMatch(/URL chose with \?sample-rate=.*answerCall's stream option/);
    expect(other.inbound).toEqual({ encoding: "l16", sampleRate: 16000 });
    expect(other.outbound).toEqual({ encoding: "l16", sampleRate: 8000 });

    const mulaw = new ExotelFrameSerializer();
    mulaw.deserialize(startWith({ encoding: "audio/x-mulaw;rate=8000" }));
    expect(mulaw.inbound).toEqual({ encoding: "mulaw", sampleRate: 8000 });

    const opus = new ExotelFrameSerializer();
    const fatal = opus.deserialize(startWith({ encoding: "opus", sample_rate: 16000 }));
    const frame = (fatal.ok ? fatal.frames[0] : undefined) as ErrorFrame;
    expect(frame.fatal).toBe(true);
    expect(frame.error.message).toMatch(/"opus" at 16000 Hz, which voicepipe cannot decode/);
    expect(frame.error.message).toMatch(/Exotel streams base64 16-bit PCM/);

    // A name from the wire that is a property of every object is not an encoding.
    const proto = new ExotelFrameSerializer();
    const constructor = proto.deserialize(startWith({ encoding: "constructor" }));
    expect(constructor.ok && (constructor.frames[0] as ErrorFrame).fatal).toBe(true);
  });

  it("refuses a sampleRate Exotel does not offer, naming the option", () => {
    expect(() => new ExotelFrameSerializer({ sampleRate: 44100 as never })).toThrow(
      /exotel: sampleRate must be one of 8000, 16000, 24000 .*got 44100/,
    );
    expect(createTelephonySerializer("exotel")).toBeInstanceOf(ExotelFrameSerializer);
  });
});

describe("ExotelFrameSerializer: outbound", () => {
  it("sends media of exactly 3,200 bytes (200 ms at 8 kHz) once ten 20 ms chunks have come", () => {
    const serializer = started();
    const audio = tone(400, 8000);
    const step = 160;
    const sent: number[] = [];
    for (let i = 0; i * step < audio.length; i++) {
      const out = payloads(
        serializer.serialize(new OutputAudioRawFrame(audio.subarray(i * step, (i + 1) * step), 8000)),
      );
      if (out.length > 0) sent.push(i);
      for (const packet of out) expect(packet.byteLength).toBe(3200);
    }
    expect(sent).toEqual([9, 19]);
    expect(serializer.packetMs).toBe(200);
  });

  it("carries the audio unchanged, and pads the end of an answer (TTSStoppedFrame) with silence to 3,200 bytes", () => {
    const serializer = started();
    const audio = tone(250, 8000);
    const packets = feed(serializer, audio, 8000);
    expect(packets.map((p) => p.byteLength)).toEqual([3200]);
    const tail = payloads(serializer.serialize(new TTSStoppedFrame()));
    expect(tail.map((p) => p.byteLength)).toEqual([3200]);
    const all = Buffer.concat([...packets, ...tail]);
    expect(all.subarray(0, 4000).equals(pcmBytes(audio))).toBe(true);
    expect(all.subarray(4000).every((b) => b === 0)).toBe(true);
    // Nothing is held any more: a second end of answer sends nothing.
    expect(serializer.serialize(new BotStoppedSpeakingFrame())).toBeUndefined();
  });

  it("flushes the tail on BotStoppedSpeakingFrame too", () => {
    const serializer = started();
    feed(serializer, tone(60, 8000), 8000);
    expect(payloads(serializer.serialize(new BotStoppedSpeakingFrame())).map((p) => p.byteLength)).toEqual([
      3200,
    ]);
  });

  it("clears with the stream_sid on an interruption, and drops the audio it held", () => {
    const serializer = started();
    feed(serializer, tone(100, 8000), 8000);
    expect(serializer.serialize(new InterruptionFrame())).toBe('{"event":"clear","stream_sid":"S1"}');
    expect(serializer.serialize(new TTSStoppedFrame())).toBeUndefined();
    // The next answer starts afresh: ten more chunks make the first packet.
    expect(feed(serializer, tone(180, 8000), 8000)).toEqual([]);
    expect(feed(serializer, tone(20, 8000), 8000).map((p) => p.byteLength)).toEqual([3200]);
  });

  it("sends packets of 3,200 bytes at 16 kHz and 3,840 at 24 kHz (multiples of 320 and of a 20 ms frame)", () => {
    for (const [rate, bytes] of [
      [16000, 3200],
      [24000, 3840],
    ] as const) {
      const serializer = started({ sampleRate: rate });
      expect(serializer.packetMs).toBe(rate === 16000 ? 100 : 80);
      const packets = feed(serializer, tone(1000, rate), rate);
      for (const p of packets) expect(p.byteLength).toBe(bytes);
      const tail = payloads(serializer.serialize(new TTSStoppedFrame()));
      const total = packets.length * bytes + tail.reduce((n, p) => n + p.byteLength, 0);
      expect(total % bytes).toBe(0);
      expect(total).toBeGreaterThanOrEqual(rate * 2);
    }
  });

  it("converts 24 kHz pipeline output to 8 kHz: every message a multiple of 320 and at least 3,200 bytes", async () => {
    const serializer = started();
    await serializer.setup({ audioInSampleRate: 16000, audioOutSampleRate: 24000 });
    const packets = feed(serializer, tone(1000, 24000), 24000);
    packets.push(...payloads(serializer.serialize(new TTSStoppedFrame())));
    for (const p of packets) {
      expect(p.byteLength % 320).toBe(0);
      expect(p.byteLength).toBeGreaterThanOrEqual(3200);
    }
    const samples = packets.reduce((n, p) => n + p.byteLength / 2, 0);
    expect(samples).toBeGreaterThanOrEqual(8000);
    expect(samples).toBeLessThan(8000 + 1600);
    serializer.dispose();
  });

  it("cuts a long run of audio into several messages of at most 100,000 bytes, each still at least one packet", () => {
    const serializer = started({ sampleRate: 24000 });
    const audio = tone(5000, 24000);
    const out = payloads(
      serializer.serialize(new OutputAudioRawFrame(audio.subarray(0, 24000 * 4 + 48), 24000)),
    );
    out.push(
      ...payloads(serializer.serialize(new OutputAudioRawFrame(audio.subarray(24000 * 4 + 48), 24000))),
    );
    out.push(...payloads(serializer.serialize(new TTSStoppedFrame())));
    for (const p of out) {
      expect(p.byteLength).toBeLessThanOrEqual(100_000);
      expect(p.byteLength).toBeGreaterThanOrEqual(3840);
      expect(p.byteLength % 960).toBe(0);
    }
    expect(out.map((p) => p.byteLength)).toEqual([99840, 92160, 48000]);
    expect(Buffer.concat(out).equals(pcmBytes(audio))).toBe(true);
  });

  it("sends nothing before the stream started, and counts it", () => {
    const serializer = new ExotelFrameSerializer();
    expect(serializer.serialize(new OutputAudioRawFrame(tone(200, 8000), 8000))).toBeUndefined();
    expect(serializer.audioBeforeStart).toBe(1);
    expect(serializer.serialize(new InterruptionFrame())).toBeUndefined();
  });

  it("cannot play DTMF (Exotel's stream has no such message) and sends an app's mark as it is", () => {
    const serializer = started();
    expect(() => serializer.serialize(new OutputDTMFFrame(["1"]))).toThrow(FrameSerializeError);
    const mark = { event: "mark", stream_sid: "S1", mark: { name: "greeting-end" } };
    expect(serializer.serialize(new OutputTransportMessageFrame(mark))).toBe(JSON.stringify(mark));
  });
});

describe("Exotel call on loopback", () => {
  it("sends every answer as text media of 3,200-byte multiples, its tail padded at the answer's end, not at the call's", async () => {
    const clock = new SystemClock();
    const call = await loopbackCall("exotel", { opening: [CONNECTED, START], clock });
    try {
      expect(call.call.call).toMatchObject({ provider: "exotel", streamId: "S1", callId: "C1" });
      // An answer as the echo bot pushes one: started, 450 ms of audio, stopped.
      await call.task.queueFrames([
        new TTSStartedFrame(),
        new TTSAudioRawFrame(tone(450, 8000), 8000),
        new TTSStoppedFrame(),
      ]);
      const deadline = performance.now() + 3000;
      const bytes = () => call.received.reduce((n, m) => n + (m.isBinary ? 0 : 1), 0);
      while (bytes() < 3 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(call.received.every((m) => !m.isBinary)).toBe(true);
      const sizes = call.received.map((m) => payloads(m.data.toString())[0]!.byteLength);
      expect(sizes).toEqual([3200, 3200, 3200]);
      // The tail (50 ms of audio) went with the answer's end; the call is still up.
      expect(call.outcome()).toBeUndefined();
    } finally {
      await call.close();
    }
  });

  it("sends an answer's first packet on the output's first tick: the call's output chunks are one packet long", async () => {
    const firstPacketMs = async (chunks10ms?: number): Promise<number> => {
      const clock = new VirtualClock();
      const call = await loopbackCall("exotel", {
        opening: [CONNECTED, START],
        clock,
        ...(chunks10ms ? { transport: { params: { audioOut10msChunks: chunks10ms } } } : {}),
      });
      try {
        const queuedAt = clock.now();
        call.task.queueFrames([new TTSStartedFrame(), new TTSAudioRawFrame(tone(1000, 8000), 8000)]);
        await clock.runUntil(() => call.received.length > 0, { maxMs: 5000 });
        expect(payloads(call.received[0]!.data.toString())[0]!.byteLength).toBe(3200);
        return call.received[0]!.atMs - queuedAt;
      } finally {
        await call.close();
      }
    };
    const packetChunks = await firstPacketMs();
    const twentyMsChunks = await firstPacketMs(2);
    console.log(
      `bench: exotel-first-packet-after ${packetChunks} ms (200 ms output chunks, answerCall's default)`,
    );
    console.log(`bench: exotel-first-packet-after ${twentyMsChunks} ms (20 ms output chunks)`);
    expect(packetChunks).toBeLessThan(20);
    expect(twentyMsChunks).toBeGreaterThanOrEqual(180);
  });
});
