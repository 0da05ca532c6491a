/**
 * Vonage Voice API WebSockets, against message fixtures written from Vonage's documentation
 * (developer.vonage.com "WebSockets" guide and concept page, the NCCO reference): binary frames
 * of raw 16-bit PCM both ways, JSON text for events, exactly 20 ms per outbound message, no stop
 * event.
 */
import { describe, expect, it } from "vitest";
import {
  BotStoppedSpeakingFrame,
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
} from "../../src/index.js";
import { FrameSerializeError } from "../../src/serializers/frame-serializer.js";
import { TelephonyFormatError } from "../../src/serializers/telephony/telephony-serializer.js";
import { VonageFrameSerializer } from "../../src/serializers/telephony/vonage.js";
import { createTelephonySerializer } from "../../src/telephony/serializers.js";
import { tone } from "../support/audio.js";
import { loopbackCall } from "./call-harness.js";

/** The first message: the NCCO's content-type and headers (here, what the dev server's NCCO would put). */
const CONNECTED = JSON.stringify({
  event: "websocket:connected",
  "content-type": "audio/l16;rate=16000",
  call_uuid: "63f61863-4a51-4f6b-86e1-46edebcf9356",
  caller: "447700900000",
  to: "447700900001",
  campaign: "x",
  retries: 2,
});

const pcmBytes = (samples: Int16Array): Uint8Array =>
  new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);

function connected(
  options: ConstructorParameters<typeof VonageFrameSerializer>[0] = {},
): VonageFrameSerializer {
  const serializer = new VonageFrameSerializer(options);
  const rate = options.sampleRate ?? 16000;
  const result = serializer.deserialize(CONNECTED.replace("rate=16000", `rate=${rate}`));
  expect(result).toEqual({ ok: true, frames: [] });
  return serializer;
}

/** The binary packets among `messages`, each checked to be a Uint8Array. */
function packets(messages: unknown): Uint8Array[] {
  const list = messages === undefined ? [] : Array.isArray(messages) ? messages : [messages];
  return list.map((m) => {
    expect(m).toBeInstanceOf(Uint8Array);
    return m as Uint8Array;
  });
}

function feed(
  serializer: VonageFrameSerializer,
  audio: Int16Array,
  rate: number,
  pieceSamples: number,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < audio.length; at += pieceSamples) {
    out.push(
      ...packets(serializer.serialize(new OutputAudioRawFrame(audio.subarray(at, at + pieceSamples), rate))),
    );
  }
  return out;
}

describe("VonageFrameSerializer: inbound", () => {
  it("knows the call from websocket:connected: the uuid, numbers and string headers from the NCCO, 16 kHz L16", () => {
    const serializer = new VonageFrameSerializer();
    expect(serializer.call).toBeUndefined();
    expect(serializer.deserialize(CONNECTED)).toEqual({ ok: true, frames: [] });
    expect(serializer.call).toEqual({
      provider: "vonage",
      callId: "63f61863-4a51-4f6b-86e1-46edebcf9356",
      streamId: "",
      from: "447700900000",
      to: "447700900001",
      customParameters: {
        call_uuid: "63f61863-4a51-4f6b-86e1-46edebcf9356",
        caller: "447700900000",
        to: "447700900001",
        campaign: "x",
      },
      inbound: { encoding: "l16", sampleRate: 16000 },
    });
  });

  it("takes the uuid from a uuid header, and leaves callId empty when the NCCO gave none", () => {
    const uuid = new VonageFrameSerializer();
    uuid.deserialize(
      JSON.stringify({
        event: "websocket:connected",
        "content-type": "audio/l16;rate=16000",
        uuid: "U1",
        from: "F",
      }),
    );
    expect(uuid.call).toMatchObject({ callId: "U1", from: "F" });
    // The concept page's example: only the content-type and two custom headers.
    const bare = new VonageFrameSerializer();
    bare.deserialize(
      JSON.stringify({
        event: "websocket:connected",
        "content-type": "audio/l16;rate=16000",
        prop1: "value1",
        prop2: "value2",
      }),
    );
    expect(bare.call).toMatchObject({ callId: "", customParameters: { prop1: "value1", prop2: "value2" } });
  });

  it("adopts a declared rate other than the expected one and says so; ends the call on a format it cannot decode", () => {
    const other = new VonageFrameSerializer();
    const result = other.deserialize(
      JSON.stringify({ event: "websocket:connected", "content-type": "audio/l16;rate=8000" }),
    );
    const error = (result.ok ? result.frames[0] : undefined) as ErrorFrame;
    expect(error).toBeInstanceOf(ErrorFrame);
    expect(error.error).toBeInstanceOf(TelephonyFormatError);
    expect(error.fatal).toBe(false);
    expect(other.inbound).toEqual({ encoding: "l16", sampleRate: 8000 });
    expect(other.outbound).toEqual({ encoding: "l16", sampleRate: 16000 });

    const mulaw = new VonageFrameSerializer();
    const fatal = mulaw.deserialize(
      JSON.stringify({ event: "websocket:connected", "content-type": "audio/pcmu" }),
    );
    expect(fatal.ok && (fatal.frames[0] as ErrorFrame).fatal).toBe(true);

    const none = new VonageFrameSerializer();
    expect(none.deserialize(JSON.stringify({ event: "websocket:connected" }))).toEqual({
      ok: true,
      frames: [],
    });
    expect(none.inbound).toEqual({ encoding: "l16", sampleRate: 16000 });
  });

  it("decodes binary messages as 16-bit little-endian PCM at the stream's rate", () => {
    const serializer = connected();
    const samples = tone(20, 16000);
    const bytes = pcmBytes(samples);
    expect(bytes.byteLength).toBe(640);
    const result = serializer.deserialize(bytes);
    const frame = (result.ok ? result.frames[0] : undefined) as InputAudioRawFrame;
    expect(frame).toBeInstanceOf(InputAudioRawFrame);
    expect(frame.sampleRate).toBe(16000);
    expect(Array.from(frame.audio)).toEqual(Array.from(samples));
    expect(serializer.deserialize(new Uint8Array(0))).toEqual({ ok: true, frames: [] });
  });

  it("refuses, in words, a binary message with an odd byte count (half a sample)", () => {
    const serializer = connected();
    const result = serializer.deserialize(new Uint8Array(641));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe("invalid");
      expect(result.error.message).toMatch(/641 bytes is not a whole number of 16-bit samples/);
    }
    // The next message is read as usual.
    expect(serializer.deserialize(new Uint8Array(640)).ok).toBe(true);
  });

  it("turns websocket:dtmf (digit, or dtmf.digit) into an InputDTMFFrame and refuses a digit that is not a key", () => {
    const serializer = connected();
    const a = serializer.deserialize(JSON.stringify({ event: "websocket:dtmf", digit: "5", duration: 260 }));
    expect(a.ok && a.frames[0]).toBeInstanceOf(InputDTMFFrame);
    expect(a.ok && (a.frames[0] as InputDTMFFrame).button).toBe("5");
    const b = serializer.deserialize(
      JSON.stringify({ event: "websocket:dtmf", dtmf: { digit: "#", duration: 100 } }),
    );
    expect(b.ok && (b.frames[0] as InputDTMFFrame).button).toBe("#");
    const bad = serializer.deserialize(JSON.stringify({ event: "websocket:dtmf", digit: "55" }));
    expect(!bad.ok && bad.error.message).toMatch(/not a keypad key/);
  });

  it("ignores websocket:cleared and websocket:notify; refuses unknown events and broken JSON", () => {
    const serializer = connected();
    expect(serializer.deserialize(JSON.stringify({ event: "websocket:cleared" }))).toEqual({
      ok: true,
      frames: [],
    });
    expect(
      serializer.deserialize(JSON.stringify({ event: "websocket:notify", payload: { id: "turn-7" } })),
    ).toEqual({ ok: true, frames: [] });
    const unknown = serializer.deserialize(JSON.stringify({ event: "websocket:error" }));
    expect(!unknown.ok && unknown.error.reason).toBe("unknown-type");
    const broken = serializer.deserialize("{");
    expect(!broken.ok && broken.error.reason).toBe("malformed");
    const second = serializer.deserialize(CONNECTED);
    expect(!second.ok && second.error.message).toMatch(/second start/);
  });

  it("refuses a sampleRate Vonage does not offer, naming the option", () => {
    expect(() => new VonageFrameSerializer({ sampleRate: 48000 as never })).toThrow(
      /vonage: sampleRate must be one of 16000, 8000, 24000 .*got 48000/,
    );
    expect(createTelephonySerializer("vonage")).toBeInstanceOf(VonageFrameSerializer);
  });
});

describe("VonageFrameSerializer: outbound", () => {
  it("sends audio as binary messages of exactly 640 bytes (20 ms at 16 kHz), whatever the chunking", () => {
    const audio = tone(1000, 16000);
    for (const piece of [1, 7, 160, 320, 321, 641, 16000]) {
      const serializer = connected();
      const out = feed(serializer, audio, 16000, piece);
      for (const p of out) expect(p.byteLength).toBe(640);
      expect(out).toHaveLength(50);
      // The audio goes unchanged.
      expect(Buffer.concat(out).equals(Buffer.from(pcmBytes(audio)))).toBe(true);
    }
  });

  it("pads the end of an answer with silence to one 640-byte message (TTSStoppedFrame, BotStoppedSpeakingFrame)", () => {
    const serializer = connected();
    const audio = tone(30, 16000);
    const out = feed(serializer, audio, 16000, 480);
    const tail = packets(serializer.serialize(new TTSStoppedFrame()));
    expect([...out, ...tail].map((p) => p.byteLength)).toEqual([640, 640]);
    const all = Buffer.concat([...out, ...tail]);
    expect(all.subarray(0, 960).equals(Buffer.from(pcmBytes(audio)))).toBe(true);
    expect(all.subarray(960).every((b) => b === 0)).toBe(true);
    feed(serializer, tone(5, 16000), 16000, 80);
    expect(packets(serializer.serialize(new BotStoppedSpeakingFrame())).map((p) => p.byteLength)).toEqual([
      640,
    ]);
    expect(serializer.serialize(new BotStoppedSpeakingFrame())).toBeUndefined();
  });

  it("sends 320-byte messages at 8 kHz and 960-byte ones at 24 kHz", () => {
    for (const [rate, bytes] of [
      [8000, 320],
      [24000, 960],
    ] as const) {
      const serializer = connected({ sampleRate: rate });
      const out = feed(serializer, tone(200, rate), rate, 333);
      for (const p of out) expect(p.byteLength).toBe(bytes);
      expect(out).toHaveLength(10);
    }
  });

  it("converts 24 kHz pipeline output to 16 kHz: every message exactly 640 bytes", async () => {
    const serializer = connected();
    await serializer.setup({ audioInSampleRate: 16000, audioOutSampleRate: 24000 });
    const out = feed(serializer, tone(1000, 24000), 24000, 480);
    out.push(...packets(serializer.serialize(new TTSStoppedFrame())));
    for (const p of out) expect(p.byteLength).toBe(640);
    expect(out.length).toBeGreaterThanOrEqual(50);
    expect(out.length).toBeLessThanOrEqual(51);
    serializer.dispose();
  });

  it('sends {"action":"clear"} as text on an interruption and drops the audio it held', () => {
    const serializer = connected();
    feed(serializer, tone(30, 16000), 16000, 480);
    expect(serializer.serialize(new InterruptionFrame())).toBe('{"action":"clear"}');
    expect(serializer.serialize(new TTSStoppedFrame())).toBeUndefined();
  });

  it("sends an application's notify as a text transport message; cannot play DTMF", () => {
    const serializer = connected();
    const notify = { action: "notify", payload: { id: "turn-7" } };
    expect(serializer.serialize(new OutputTransportMessageFrame(notify))).toBe(JSON.stringify(notify));
    expect(() => serializer.serialize(new OutputDTMFFrame(["1"]))).toThrow(FrameSerializeError);
  });
});

describe("Vonage call on loopback", () => {
  it("sends audio as binary 640-byte messages and clear as text; reads the caller's binary audio; the socket closing ends the call", async () => {
    const clock = new SystemClock();
    const call = await loopbackCall("vonage", { opening: [CONNECTED], clock });
    try {
      expect(call.call.call).toMatchObject({
        provider: "vonage",
        callId: "63f61863-4a51-4f6b-86e1-46edebcf9356",
      });
      expect(call.transport.serializer.binary).toBe(false);
      expect(call.call.serializer.packetMs).toBe(20);
      expect(call.transport.output().params.audioOut10msChunks).toBe(2);
      // The caller speaks: 20 ms binary frames.
      for (let i = 0; i < 5; i++) call.client.send(pcmBytes(tone(20, 16000)));
      // The pipeline runs at 24 kHz out (the task's default): the transport resamples to 16 kHz.
      call.task.queueFrames([
        new TTSStartedFrame(),
        new TTSAudioRawFrame(tone(210, 24000), 24000),
        new TTSStoppedFrame(),
      ]);
      const until = async (predicate: () => boolean, what: string) => {
        const deadline = performance.now() + 3000;
        while (!predicate()) {
          if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      await until(() => call.received.length >= 11, "eleven audio messages");
      expect(call.received.every((m) => m.isBinary && m.data.byteLength === 640)).toBe(true);
      expect(call.recorder.ofType(InputAudioRawFrame).length).toBeGreaterThan(0);

      call.task.queueFrames([new TTSStartedFrame(), new TTSAudioRawFrame(tone(2000, 24000), 24000)]);
      await until(() => call.received.length >= 15, "more audio");
      call.task.queueFrame(new InterruptionFrame());
      await until(() => call.received.some((m) => !m.isBinary), "the clear");
      const text = call.received.filter((m) => !m.isBinary).map((m) => m.data.toString());
      expect(text).toEqual(['{"action":"clear"}']);
      for (const m of call.received.filter((r) => r.isBinary)) expect(m.data.byteLength).toBe(640);

      // Vonage has no stop: it closes the socket, and the task ends by its normal end path.
      call.client.close(1000);
      await until(() => call.outcome() !== undefined, "the task to end");
      expect(call.outcome()?.how).toBe("ended");
    } finally {
      await call.close();
    }
  });
});
