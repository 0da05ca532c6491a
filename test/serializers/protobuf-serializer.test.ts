import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EndFrame,
  type Frame,
  InputAudioRawFrame,
  InputTransportMessageFrame,
  InterimTranscriptionFrame,
  InterruptionFrame,
  InvalidOptionError,
  LLMTextFrame,
  OutputAudioRawFrame,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
  TTSAudioRawFrame,
  TTSSpeakFrame,
  TTSTextFrame,
  TextFrame,
  TranscriptionFrame,
  VirtualClock,
} from "../../src/index.js";
import {
  CLIENT_PTS_METADATA_KEY,
  type DeserializeResult,
  FrameDeserializeError,
  FrameSerializeError,
  ProtobufFrameSerializer,
  wallClockOrigin,
} from "../../src/serializers/index.js";
import { frameCodec, type WireFrame } from "../../src/serializers/protobuf/schema.js";

const hex = (bytes: Uint8Array | string | undefined): string =>
  bytes === undefined ? "(nothing)" : Buffer.from(bytes as Uint8Array).toString("hex");
const fromHex = (h: string): Buffer => Buffer.from(h.replaceAll(" ", ""), "hex");
const wire = (frame: WireFrame): Uint8Array => frameCodec().encode(frame);

/** The single frame of a successful result (fails the test with the error's words otherwise). */
function only(result: DeserializeResult): Frame {
  if (!result.ok) throw new Error(`expected a frame, got: ${result.error.message}`);
  expect(result.frames).toHaveLength(1);
  return result.frames[0]!;
}

function refusal(result: DeserializeResult): FrameDeserializeError {
  if (result.ok) throw new Error(`expected a refusal, got ${result.frames.map(String).join(", ")}`);
  expect(result.error).toBeInstanceOf(FrameDeserializeError);
  expect(result.error.code).toBe("VP_DESERIALIZE");
  return result.error;
}

/** Serialize with one serializer, deserialize with another: what a peer would receive. */
function roundTrip(frame: Frame, options = {}): Frame {
  const bytes = new ProtobufFrameSerializer(options).serialize(frame);
  expect(bytes, `${frame.name} has a wire form`).toBeInstanceOf(Uint8Array);
  return only(new ProtobufFrameSerializer(options).deserialize(bytes!));
}

describe("ProtobufFrameSerializer: round trips", () => {
  it("output audio comes back as input audio with the same samples, rate and channels", () => {
    const samples = Int16Array.from({ length: 960 }, (_, i) => ((i * 977) % 65536) - 32768);
    for (const frame of [
      new OutputAudioRawFrame(samples, 24000, 1),
      new TTSAudioRawFrame(samples, 48000, 2),
    ]) {
      const back = roundTrip(frame);
      expect(back).toBeInstanceOf(InputAudioRawFrame);
      const audio = back as InputAudioRawFrame;
      expect(Array.from(audio.audio)).toEqual(Array.from(samples));
      expect([audio.sampleRate, audio.numChannels]).toEqual([frame.sampleRate, frame.numChannels]);
    }
  });

  it("audio round trips for any samples, sample rate and channel count (property)", () => {
    const serializer = new ProtobufFrameSerializer({
      maxInputChannels: 8,
      minInputSampleRate: 1,
      maxInputSampleRate: 192000,
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 192000 }),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 1, maxLength: 400 }),
        (channels, rate, values) => {
          const samples = Int16Array.from(values.slice(0, values.length - (values.length % channels)));
          fc.pre(samples.length > 0);
          const back = only(
            serializer.deserialize(serializer.serialize(new OutputAudioRawFrame(samples, rate, channels))!),
          );
          const audio = back as InputAudioRawFrame;
          expect(audio.audio).toEqual(samples);
          expect([audio.sampleRate, audio.numChannels]).toEqual([rate, channels]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("text round trips, for any text including emoji and other planes (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (text) => {
        const back = roundTrip(new TextFrame(text));
        expect(back.constructor).toBe(TextFrame);
        expect((back as TextFrame).text).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it("a transcription round trips with its user and its timestamp to the millisecond", () => {
    const options = { wallClockOriginMs: Date.parse("2026-01-01T00:00:00.000Z") };
    const back = roundTrip(new TranscriptionFrame("hello there", "user-1", 12_345.4), options);
    expect(back).toBeInstanceOf(TranscriptionFrame);
    const t = back as TranscriptionFrame;
    expect([t.text, t.userId, t.timestampMs]).toEqual(["hello there", "user-1", 12_345]);
  });

  it("transport messages (ordered and urgent) come back as input messages with equal JSON (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (message, urgent) => {
        const frame = urgent
          ? new OutputTransportMessageUrgentFrame(message)
          : new OutputTransportMessageFrame(message);
        const back = roundTrip(frame);
        expect(back).toBeInstanceOf(InputTransportMessageFrame);
        expect((back as InputTransportMessageFrame).message).toEqual(JSON.parse(JSON.stringify(message)));
      }),
      { numRuns: 300 },
    );
  });

  it("an interruption round trips when the serializer sends them", () => {
    expect(roundTrip(new InterruptionFrame(), { sendInterruptions: true })).toBeInstanceOf(InterruptionFrame);
  });

  it("a received frame gets a fresh voicepipe id; the sender's id and name are not kept", () => {
    const sent = new TextFrame("x");
    const back = roundTrip(sent);
    expect(back.id).toBeGreaterThan(sent.id);
    expect(back.name).toBe(`TextFrame#${back.id}`);
  });
});

describe("ProtobufFrameSerializer: byte-level vectors of frames.proto", () => {
  const bare = new ProtobufFrameSerializer({ sendFrameIds: false, sendInterruptions: true });

  it("writes exactly Pipecat's bytes for text, message, audio and interruption frames", () => {
    expect(hex(bare.serialize(new TextFrame("hi")))).toBe("0a041a026869");
    expect(hex(bare.serialize(new OutputTransportMessageFrame({})))).toBe("22040a027b7d");
    expect(hex(bare.serialize(new OutputAudioRawFrame(new Int16Array([0, 32767]), 16000, 1)))).toBe(
      "120b1a040000ff7f20807d2801",
    );
    expect(hex(bare.serialize(new InterruptionFrame()))).toBe("2a00");
  });

  it("writes exactly Pipecat's bytes for a transcription, timestamp as ISO-8601 text", () => {
    const origin = Date.parse("2025-12-31T23:00:00.000Z");
    const serializer = new ProtobufFrameSerializer({ sendFrameIds: false, wallClockOriginMs: origin });
    expect(hex(serializer.serialize(new TranscriptionFrame("hello", "user-1", 3_600_000)))).toBe(
      "1a291a0568656c6c6f2206757365722d312a18323032362d30312d30315430303a30303a30302e3030305a",
    );
  });

  it("reads Pipecat's bytes back as voicepipe frames", () => {
    const s = new ProtobufFrameSerializer({ wallClockOriginMs: Date.parse("2026-01-01T00:00:00.000Z") });
    expect((only(s.deserialize(fromHex("0a 04 1a 02 68 69"))) as TextFrame).text).toBe("hi");
    expect((only(s.deserialize(fromHex("22 04 0a 02 7b 7d"))) as InputTransportMessageFrame).message).toEqual(
      {},
    );
    const audio = only(
      s.deserialize(fromHex("12 0b 1a 04 00 00 ff 7f 20 80 7d 28 01")),
    ) as InputAudioRawFrame;
    expect([Array.from(audio.audio), audio.sampleRate, audio.numChannels]).toEqual([[0, 32767], 16000, 1]);
    expect(only(s.deserialize(fromHex("2a 00")))).toBeInstanceOf(InterruptionFrame);
    const named = fromHex("2a 17 08 2a 12 13 49 6e 74 65 72 72 75 70 74 69 6f 6e 46 72 61 6d 65 23 31");
    expect(only(s.deserialize(named))).toBeInstanceOf(InterruptionFrame);
    const t = only(
      s.deserialize(
        fromHex(
          "1a 29 1a 05 68 65 6c 6c 6f 22 06 75 73 65 72 2d 31 2a 18 32 30 32 36 2d 30 31 2d 30 31 54 30 30 3a 30 30 3a 30 30 2e 30 30 30 5a",
        ),
      ),
    ) as TranscriptionFrame;
    expect([t.constructor, t.text, t.userId, t.timestampMs]).toEqual([
      TranscriptionFrame,
      "hello",
      "user-1",
      0,
    ]);
  });

  it('reads audio as the official web client sends it (id 0, name "audio", 512 samples at 16 kHz)', () => {
    const pcm = Buffer.alloc(1024);
    for (let i = 0; i < 512; i++) pcm.writeInt16LE(i * 64 - 16384, i * 2);
    const bytes = wire({ audio: { id: 0, name: "audio", audio: pcm, sample_rate: 16000, num_channels: 1 } });
    const audio = only(new ProtobufFrameSerializer().deserialize(bytes)) as InputAudioRawFrame;
    expect([audio.numFrames, audio.sampleRate, audio.audio[0], audio.audio[511]]).toEqual([
      512, 16000, -16384, 16320,
    ]);
  });
});

describe("ProtobufFrameSerializer: Pipecat compatibility details", () => {
  it("writes each frame's id and name, as Pipecat does", () => {
    const frame = new OutputAudioRawFrame(new Int16Array(4), 24000);
    const decoded = frameCodec().decode(new ProtobufFrameSerializer().serialize(frame)!);
    expect(Number(String(decoded.audio!.id))).toBe(frame.id);
    expect(decoded.audio!.name).toBe(`OutputAudioRawFrame#${frame.id}`);
  });

  it("writes pts in nanoseconds, and only when the frame has one", () => {
    const s = new ProtobufFrameSerializer();
    const timed = new OutputAudioRawFrame(new Int16Array(2), 24000);
    timed.pts = 1500.25;
    const decoded = frameCodec().decode(s.serialize(timed)!);
    expect(String(decoded.audio!.pts)).toBe("1500250000");
    const untimed = frameCodec().decode(s.serialize(new OutputAudioRawFrame(new Int16Array(2), 24000))!);
    expect(Object.hasOwn(untimed.audio!, "pts")).toBe(false);
  });

  it("keeps a received pts as metadata in ms, never as the frame's pts (the sender's clock is not the pipeline's)", () => {
    const bytes = wire({
      audio: { audio: new Uint8Array(4), sample_rate: 16000, num_channels: 1, pts: 2_000_000_000 },
    });
    const audio = only(new ProtobufFrameSerializer().deserialize(bytes));
    expect(audio.metadata[CLIENT_PTS_METADATA_KEY]).toBe(2000);
    expect(audio.pts).toBeUndefined();
  });

  it("adds no metadata to audio received without a pts", () => {
    const bytes = wire({ audio: { audio: new Uint8Array(4), sample_rate: 16000, num_channels: 1 } });
    const audio = only(new ProtobufFrameSerializer().deserialize(bytes));
    expect(Object.keys(audio.metadata)).toEqual([]);
  });

  it("writes a transcription's running-time timestamp as wall-clock ISO-8601 text", () => {
    const origin = Date.parse("2026-03-04T05:06:07.000Z");
    const s = new ProtobufFrameSerializer({ wallClockOriginMs: origin });
    const decoded = frameCodec().decode(s.serialize(new TranscriptionFrame("hi", "u", 1_234))!);
    expect(decoded.transcription!.timestamp).toBe("2026-03-04T05:06:08.234Z");
  });

  it("reads the timestamps Pipecat writes (UTC offset, microseconds) as running time", () => {
    const origin = Date.parse("2026-01-01T00:00:00.000Z");
    const s = new ProtobufFrameSerializer({ wallClockOriginMs: origin });
    for (const [text, ms] of [
      ["2026-01-01T00:00:01.500+00:00", 1500],
      ["2026-01-01T00:00:01.500123+00:00", 1500],
      ["2026-01-01T01:00:00.000+01:00", 0],
      ["2026-01-01T00:00:02Z", 2000],
    ] as const) {
      const t = only(
        s.deserialize(wire({ transcription: { text: "x", timestamp: text } })),
      ) as TranscriptionFrame;
      expect(t.timestampMs, text).toBe(ms);
    }
  });

  it("wallClockOrigin(clock) is the Unix time at which the clock read 0", async () => {
    const clock = new VirtualClock();
    await clock.advance(5_000);
    const before = new Date().getTime(); // the wall clock, by another road than the one under test
    const origin = wallClockOrigin(clock);
    expect(origin).toBeGreaterThanOrEqual(before - 5_000 - 50);
    expect(origin).toBeLessThanOrEqual(new Date().getTime() - 5_000 + 50);
  });

  it("writes the message as JSON text in MessageFrame.data, as the web client expects", () => {
    const rtvi = { label: "rtvi-ai", type: "bot-ready", id: "abc12345", data: { version: "2.1.0" } };
    const decoded = frameCodec().decode(
      new ProtobufFrameSerializer().serialize(new OutputTransportMessageFrame(rtvi))!,
    );
    expect(decoded.frame).toBe("message");
    expect(decoded.message!.data).toBe(JSON.stringify(rtvi));
  });

  it("writes text with unpaired surrogates as valid UTF-8 (U+FFFD), so strict peers do not drop the message", () => {
    // A TTS or LLM chunk boundary can split an emoji's surrogate pair.
    const s = new ProtobufFrameSerializer({ sendFrameIds: false });
    // "a" then U+FFFD (ef bf bd), not the CESU-style ed a0 bd that no UTF-8 decoder accepts.
    expect(hex(s.serialize(new TextFrame("a\uD83D")))).toBe("0a061a0461efbfbd");
    for (const frame of [new TextFrame("a\uD83D"), new TranscriptionFrame("\uDE00b", "u\uD800", 0)]) {
      const bytes = s.serialize(frame)!;
      expect(() => frameCodec().decode(bytes), frame.name).not.toThrow(); // protobufjs checks UTF-8 as Pipecat does
      expect(s.deserialize(bytes).ok).toBe(true);
    }
    expect((only(s.deserialize(s.serialize(new TextFrame("a\uD83D"))!)) as TextFrame).text).toBe("a\uFFFD");
  });
});

describe("ProtobufFrameSerializer: what is not written", () => {
  const s = new ProtobufFrameSerializer();

  it("writes an interruption only for a client that accepts them, and can be switched on later", () => {
    const serializer = new ProtobufFrameSerializer();
    expect(serializer.serialize(new InterruptionFrame())).toBeUndefined();
    serializer.sendInterruptions = true;
    expect(
      hex(frameCodec().encode(frameCodec().decode(serializer.serialize(new InterruptionFrame())!))),
    ).toMatch(/^2a/);
  });

  it("writes nothing for frames without a wire form", () => {
    for (const frame of [
      new InterimTranscriptionFrame("hel", "u", 0), // the schema cannot mark a transcription as interim
      new LLMTextFrame("token"), // Pipecat serializes TextFrame by exact class; LLM and TTS text go as RTVI messages
      new TTSTextFrame("word"),
      new TTSSpeakFrame("say this"),
      new InputAudioRawFrame(new Int16Array(2), 16000), // input audio is never sent back
      new OutputAudioRawFrame(new Int16Array(0), 24000), // empty audio plays nothing
      new EndFrame(),
    ]) {
      expect(s.serialize(frame), frame.name).toBeUndefined();
    }
  });

  it("refuses, in words, a message that has no JSON form", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    for (const [message, words] of [
      [cyclic, /cannot be written as JSON \(Converting circular structure.*\); send plain data \(no cycles/],
      [{ n: 1n }, /cannot be written as JSON.*BigInt/],
      [undefined, /undefined, which has no JSON form/],
      [() => 1, /function, which has no JSON form/],
    ] as const) {
      expect(() => s.serialize(new OutputTransportMessageFrame(message))).toThrow(FrameSerializeError);
      expect(() => s.serialize(new OutputTransportMessageFrame(message))).toThrow(words);
    }
  });

  it("refuses, in words, a transcription whose timestamp is not a time", () => {
    expect(() => s.serialize(new TranscriptionFrame("x", "u", Number.NaN))).toThrow(
      /TranscriptionFrame#\d+: timestampMs NaN .* not a time ISO-8601 can hold/,
    );
  });
});

describe("ProtobufFrameSerializer: refusals", () => {
  const s = new ProtobufFrameSerializer({ maxMessageBytes: 4096 });
  const audio = (rate: number, channels: number, bytes: number): Uint8Array =>
    wire({ audio: { audio: new Uint8Array(bytes), sample_rate: rate, num_channels: channels } });

  const cases: { name: string; data: Uint8Array | string; reason: string; words: RegExp }[] = [
    {
      name: "an oversized message",
      data: new Uint8Array(4097),
      reason: "oversized",
      words: /4097 bytes.*longer than maxMessageBytes \(4096\); nothing was decoded/,
    },
    {
      name: "a text message",
      data: '{"label":"rtvi-ai"}',
      reason: "unknown-type",
      words: /text message; this serializer reads binary messages/,
    },
    {
      name: "an empty message",
      data: new Uint8Array(0),
      reason: "unknown-type",
      words: /empty message holds no frame/,
    },
    {
      name: "a frame kind from a newer schema (field 6)",
      data: fromHex("32 00"),
      reason: "unknown-type",
      words: /first field 6, wire type 2\).*text \(1\), audio \(2\)/,
    },
    {
      name: "truncated bytes",
      data: fromHex("0a 04 1a 02 68"),
      reason: "malformed",
      words: /not a protobuf pipecat.Frame \(index out of range/,
    },
    {
      name: "a wrong wire type for a known field",
      data: fromHex("08 01"),
      reason: "unknown-type",
      words: /first field 1, wire type 0\)/,
    },
    {
      name: "invalid UTF-8 in a string",
      data: fromHex("0a 03 1a 01 ff"),
      reason: "malformed",
      words: /not valid for encoding utf-8/,
    },
    {
      name: "a field number 0",
      data: fromHex("00 00"),
      reason: "malformed",
      words: /field number 0|illegal tag/,
    },
    {
      name: "a sample rate of 0 (missing)",
      data: audio(0, 1, 4),
      reason: "invalid",
      words: /sample_rate 0 Hz is outside 8000…48000 Hz \(missing\)/,
    },
    {
      name: "an absurd sample rate",
      data: audio(4_000_000_000, 1, 4),
      reason: "invalid",
      words: /sample_rate 4000000000 Hz is outside/,
    },
    {
      name: "a sample rate below the range",
      data: audio(4000, 1, 4),
      reason: "invalid",
      words: /sample_rate 4000 Hz/,
    },
    {
      name: "0 channels",
      data: audio(16000, 0, 4),
      reason: "invalid",
      words: /num_channels 0 is outside 1…2 \(missing\)/,
    },
    {
      name: "too many channels",
      data: audio(16000, 9, 18),
      reason: "invalid",
      words: /num_channels 9 is outside 1…2.*maxInputChannels/,
    },
    {
      name: "an odd byte count",
      data: audio(16000, 1, 3),
      reason: "invalid",
      words: /3 bytes, not a whole number of 1-channel 16-bit samples/,
    },
    {
      name: "stereo audio split mid-frame",
      data: audio(16000, 2, 6),
      reason: "invalid",
      words: /6 bytes, not a whole number of 2-channel 16-bit samples \(a multiple of 4\)/,
    },
    {
      name: "a message that is not JSON",
      data: wire({ message: { data: "{nope" } }),
      reason: "malformed",
      words: /message.data is not valid JSON/,
    },
    {
      name: "an empty message data",
      data: wire({ message: {} }),
      reason: "malformed",
      words: /message.data is not valid JSON/,
    },
    {
      name: "JSON nested too deeply",
      data: wire({ message: { data: "[".repeat(200) + "]".repeat(200) } }),
      reason: "malformed",
      words: /nested deeper than 128 levels/,
    },
    {
      name: "a transcription without a timestamp",
      data: wire({ transcription: { text: "x" } }),
      reason: "invalid",
      words: /transcription.timestamp is missing/,
    },
    {
      name: "a transcription timestamp without a time zone",
      data: wire({ transcription: { text: "x", timestamp: "2026-01-01T00:00:00" } }),
      reason: "invalid",
      words: /"2026-01-01T00:00:00" is not ISO-8601 with a time zone/,
    },
    {
      name: "a transcription timestamp that is not a date",
      data: wire({ transcription: { text: "x", timestamp: "2026-13-45T00:00:00Z" } }),
      reason: "invalid",
      words: /is not ISO-8601/,
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name} as ${c.reason}, in words, without throwing`, () => {
      const error = refusal(s.deserialize(c.data));
      expect(error.reason).toBe(c.reason);
      expect(error.serializer).toBe("protobuf");
      expect(error.message).toMatch(/^protobuf serializer: /);
      expect(error.message).toMatch(c.words);
    });
  }

  it("ignores audio with no samples (nothing to hear, nothing to complain about)", () => {
    const result = s.deserialize(audio(16000, 1, 0));
    expect(result).toEqual({ ok: true, frames: [] });
  });

  it("copies received audio out of the message: the frame never aliases the socket's buffer", () => {
    const bytes = Buffer.from(audio(16000, 1, 8));
    const frame = only(s.deserialize(bytes)) as InputAudioRawFrame;
    bytes.fill(0x7f);
    expect(Array.from(frame.audio)).toEqual([0, 0, 0, 0]);
    expect(frame.audio.buffer.byteLength).toBe(8);
  });

  it("reads audio at an odd offset in a larger buffer (a Buffer slice of a pooled socket buffer)", () => {
    const message = audio(16000, 1, 4);
    const pool = new Uint8Array(message.byteLength + 1);
    pool.set(message, 1);
    const frame = only(s.deserialize(pool.subarray(1))) as InputAudioRawFrame;
    expect(frame.numFrames).toBe(2);
  });

  it("checks the options, naming the bad one", () => {
    expect(() => new ProtobufFrameSerializer({ maxMessageBytes: 0 })).toThrow(InvalidOptionError);
    expect(() => new ProtobufFrameSerializer({ maxMessageBytes: Number.NaN })).toThrow(
      /maxMessageBytes must be a positive whole number \(got NaN\)/,
    );
    expect(() => new ProtobufFrameSerializer({ maxInputChannels: 1.5 })).toThrow(/maxInputChannels/);
    expect(
      () => new ProtobufFrameSerializer({ minInputSampleRate: 16000, maxInputSampleRate: 8000 }),
    ).toThrow(/minInputSampleRate \(16000 Hz\) is above maxInputSampleRate \(8000 Hz\)/);
    expect(() => new ProtobufFrameSerializer({ wallClockOriginMs: Number.POSITIVE_INFINITY })).toThrow(
      /wallClockOriginMs/,
    );
  });
});

describe("ProtobufFrameSerializer given what is not a message", () => {
  it("refuses an object whose toString is not a function in words, without throwing", () => {
    const serializer = new ProtobufFrameSerializer();
    const hostile = JSON.parse('{"toString":"","valueOf":""}') as Uint8Array;
    const result = serializer.deserialize(hostile);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.detail).toBe("not a message: expected bytes or text (got an object)");
  });
});
