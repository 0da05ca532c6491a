/**
 * Properties of the Exotel and Vonage serializers, over inputs fast-check makes:
 * - `deserialize` never throws, a refusal has a reason and words, no frame carries more audio than
 *   the message could, and a message yields at most two frames (a start's warnings);
 * - outbound, over any cutting of the output audio (any piece sizes, any pipeline rate, with
 *   interruptions and ends of answers anywhere): every Vonage message is exactly 20 ms, every
 *   Exotel message a multiple of 320 bytes (and of a 20 ms frame) and at least 3,200 bytes, never
 *   over Exotel's 100 KB; the audio held between calls stays under one message.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BotStoppedSpeakingFrame,
  ErrorFrame,
  EndTaskFrame,
  InputAudioRawFrame,
  InputDTMFFrame,
  InterruptionFrame,
  OutputAudioRawFrame,
  TTSStoppedFrame,
} from "../../src/index.js";
import type { SerializedMessage } from "../../src/serializers/frame-serializer.js";
import { type ExotelSampleRate, ExotelFrameSerializer } from "../../src/serializers/telephony/exotel.js";
import type { TelephonySerializer } from "../../src/serializers/telephony/telephony-serializer.js";
import { type VonageSampleRate, VonageFrameSerializer } from "../../src/serializers/telephony/vonage.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 20_000);
const MAX_MESSAGE_BYTES = 8192;

// ---- Inputs -------------------------------------------------------------------------------------

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("8000", "16000", "8k", "abc", "", "constructor", "__proto__", "toString"),
);
const base64 = fc.oneof(
  fc.uint8Array({ maxLength: 1200 }).map((b) => Buffer.from(b).toString("base64")),
  fc.string({ maxLength: 60 }),
  fc.constantFrom("", "====", "AA=", "A", "!!!!", "AAA=", "AQ=="),
);
const digit = fc.oneof(fc.constantFrom("0", "5", "9", "*", "#"), scalar);
const mediaFormat = fc.record(
  {
    encoding: fc.oneof(
      fc.constantFrom(
        "base64",
        "slin",
        "linear16",
        "audio/L16;rate=16000",
        "audio/x-mulaw",
        "opus",
        "constructor",
      ),
      scalar,
    ),
    sample_rate: scalar,
    sampleRate: scalar,
    bit_rate: scalar,
  },
  { requiredKeys: [] },
);
const exotelMessage = fc.oneof(
  fc.record({ event: fc.constant("connected") }),
  fc.record(
    {
      event: fc.constant("start"),
      sequence_number: scalar,
      stream_sid: scalar,
      start: fc.record(
        {
          stream_sid: scalar,
          call_sid: scalar,
          account_sid: scalar,
          from: scalar,
          to: scalar,
          custom_parameters: fc.oneof(
            fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 6 }),
            scalar,
          ),
          media_format: fc.oneof(mediaFormat, scalar),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["event"] },
  ),
  fc.record({
    event: fc.constant("media"),
    sequence_number: scalar,
    media: fc.oneof(fc.record({ chunk: scalar, timestamp: scalar, payload: base64 }), scalar),
  }),
  fc.record({
    event: fc.constant("dtmf"),
    dtmf: fc.record({ digit, duration: scalar }, { requiredKeys: [] }),
  }),
  fc.record({
    event: fc.constantFrom("mark", "clear", "stop", "transcript", ""),
    stop: fc.record({ reason: scalar }),
  }),
);
const vonageMessage = fc.oneof(
  fc.record(
    {
      event: fc.constant("websocket:connected"),
      "content-type": fc.oneof(
        fc.constantFrom(
          "audio/l16;rate=16000",
          "audio/l16;rate=8000",
          "audio/l16;rate=24000",
          "audio/l16;rate=99",
          "audio/pcmu",
        ),
        scalar,
      ),
      call_uuid: scalar,
      uuid: scalar,
      caller: scalar,
      to: scalar,
      extra: scalar,
    },
    { requiredKeys: ["event"] },
  ),
  fc.record(
    { event: fc.constant("websocket:dtmf"), digit, dtmf: fc.record({ digit }) },
    { requiredKeys: ["event"] },
  ),
  fc.record({ event: fc.constantFrom("websocket:cleared", "websocket:notify", "websocket:error", "") }),
);
/** Text a broken or hostile peer could send. */
const junkText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 100 }),
  fc.integer({ min: 10, max: 100 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.constantFrom(
    "null",
    "[]",
    '"event"',
    '{"event":5}',
    "{",
    '{"event":"media","media":{"payload":"AA=="}}',
  ),
  fc.integer({ min: MAX_MESSAGE_BYTES - 5, max: MAX_MESSAGE_BYTES + 5 }).map((n) => " ".repeat(n)),
);
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  fc.integer({ min: MAX_MESSAGE_BYTES - 2, max: MAX_MESSAGE_BYTES + 2 }).map((n) => new Uint8Array(n)),
);

const exotelInput = fc.oneof(
  { arbitrary: exotelMessage.map((m) => JSON.stringify(m) as string | Uint8Array), weight: 6 },
  { arbitrary: junkText, weight: 2 },
  { arbitrary: bytes, weight: 1 },
);
const vonageInput = fc.oneof(
  { arbitrary: vonageMessage.map((m) => JSON.stringify(m) as string | Uint8Array), weight: 3 },
  { arbitrary: bytes, weight: 4 },
  { arbitrary: junkText, weight: 2 },
);

// ---- Checks -------------------------------------------------------------------------------------

/** The most samples a message of `length` could carry: raw 16-bit, or base64 of it. */
function maxSamples(data: string | Uint8Array): number {
  return typeof data === "string" ? Math.floor((data.length * 3) / 4 / 2) : Math.floor(data.byteLength / 2);
}

function checkDeserialize(serializer: TelephonySerializer, data: string | Uint8Array): void {
  let result;
  try {
    result = serializer.deserialize(data);
  } catch (error) {
    throw new Error(`deserialize threw on ${JSON.stringify(String(data).slice(0, 200))}: ${String(error)}`, {
      cause: error,
    });
  }
  if (!result.ok) {
    expect(["oversized", "malformed", "unknown-type", "invalid"]).toContain(result.error.reason);
    expect(result.error.detail.length).toBeGreaterThan(10);
    return;
  }
  expect(result.frames.length).toBeLessThanOrEqual(2);
  for (const frame of result.frames) {
    if (frame instanceof InputAudioRawFrame) {
      expect(frame.audio.length).toBeLessThanOrEqual(maxSamples(data));
      expect(frame.sampleRate).toBeGreaterThanOrEqual(8000);
    } else {
      expect(
        frame instanceof ErrorFrame || frame instanceof InputDTMFFrame || frame instanceof EndTaskFrame,
        frame.name,
      ).toBe(true);
    }
  }
  // What the serializer keeps about the call is bounded by the message that described it.
  const call = serializer.call;
  if (call) expect(JSON.stringify(call).length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES * 2 + 200);
}

describe("Exotel and Vonage deserialize (fuzz)", () => {
  it(`never throws on ${RUNS} Exotel streams of messages, and answers within bounds`, () => {
    fc.assert(
      fc.property(fc.array(exotelInput, { minLength: 1, maxLength: 4 }), (messages) => {
        const serializer = new ExotelFrameSerializer({ maxMessageBytes: MAX_MESSAGE_BYTES });
        for (const m of messages) checkDeserialize(serializer, m);
      }),
      { numRuns: RUNS / 4, seed: 9 },
    );
  });

  it(`never throws on ${RUNS} Vonage streams of messages, and answers within bounds`, () => {
    fc.assert(
      fc.property(fc.array(vonageInput, { minLength: 1, maxLength: 4 }), (messages) => {
        const serializer = new VonageFrameSerializer({ maxMessageBytes: MAX_MESSAGE_BYTES });
        for (const m of messages) checkDeserialize(serializer, m);
      }),
      { numRuns: RUNS / 4, seed: 10 },
    );
  });
});

// ---- Outbound packet sizes -------------------------------------------------------------------------

/** One step of output: a piece of audio of `samples` samples, or an event between pieces. */
type Step = { samples: number } | { event: "interrupt" | "tts-stopped" | "bot-stopped" };
const steps = (maxSamples: number, maxLength = 60) =>
  fc.array(
    fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: maxSamples }).map((samples): Step => ({ samples })), weight: 8 },
      {
        arbitrary: fc.constantFrom<Step>(
          { event: "interrupt" },
          { event: "tts-stopped" },
          { event: "bot-stopped" },
        ),
        weight: 1,
      },
    ),
    { minLength: 1, maxLength },
  );

/** Runs `plan` through `serializer` at `rate`; returns the messages that went out. */
function run(
  serializer: TelephonySerializer,
  plan: Step[],
  rate: number,
  endAnswer = true,
): SerializedMessage[] {
  const out: SerializedMessage[] = [];
  let phase = 0;
  const push = (m: SerializedMessage | readonly SerializedMessage[] | undefined) => {
    if (m === undefined) return;
    if (Array.isArray(m)) out.push(...(m as SerializedMessage[]));
    else out.push(m as SerializedMessage);
  };
  for (const step of plan) {
    if ("samples" in step) {
      const audio = new Int16Array(step.samples);
      // A cheap non-silent signal (a sawtooth): the sizes are what is checked, not the sound.
      for (let i = 0; i < audio.length; i++) audio[i] = ((phase++ * 131) & 0x7fff) - 16384;
      push(serializer.serialize(new OutputAudioRawFrame(audio, rate)));
    } else if (step.event === "interrupt") push(serializer.serialize(new InterruptionFrame()));
    else if (step.event === "tts-stopped") push(serializer.serialize(new TTSStoppedFrame()));
    else push(serializer.serialize(new BotStoppedSpeakingFrame()));
  }
  if (endAnswer) push(serializer.serialize(new TTSStoppedFrame()));
  return out;
}

const PIPELINE_RATES = [8000, 16000, 24000, 48000] as const;

describe("outbound packet sizes over any cutting of the output audio", () => {
  it("Vonage: every audio message is binary and exactly 20 ms; every text message is the clear", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<VonageSampleRate>(16000, 8000, 24000),
        fc.constantFrom(...PIPELINE_RATES),
        steps(4000),
        async (streamRate, pipelineRate, plan) => {
          const serializer = new VonageFrameSerializer({ sampleRate: streamRate });
          serializer.deserialize(
            JSON.stringify({ event: "websocket:connected", "content-type": `audio/l16;rate=${streamRate}` }),
          );
          await serializer.setup({ audioInSampleRate: 16000, audioOutSampleRate: pipelineRate });
          try {
            const packetBytes = (streamRate / 50) * 2;
            for (const m of run(serializer, plan, pipelineRate)) {
              if (typeof m === "string") expect(m).toBe('{"action":"clear"}');
              else expect(m.byteLength).toBe(packetBytes);
            }
          } finally {
            serializer.dispose();
          }
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });

  it("Exotel: every media message a multiple of 320 bytes and of 20 ms, at least 3,200 bytes, at most 100 KB", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<ExotelSampleRate>(8000, 16000, 24000),
        fc.constantFrom(...PIPELINE_RATES),
        // Pieces from one sample to 2.5 s (48 kHz) or 15 s (8 kHz): beyond what an output transport
        // chunk holds (audioOut10msChunks ≤ 100, 1 s), so the 100 KB bound is tested, not assumed.
        fc.oneof(steps(2000), steps(120_000, 6)),
        async (streamRate, pipelineRate, plan) => {
          const serializer = new ExotelFrameSerializer({ sampleRate: streamRate });
          serializer.deserialize(
            JSON.stringify({
              event: "start",
              start: { stream_sid: "S1", call_sid: "C1", media_format: { sample_rate: streamRate } },
            }),
          );
          await serializer.setup({ audioInSampleRate: 16000, audioOutSampleRate: pipelineRate });
          try {
            const frameBytes = (streamRate / 50) * 2;
            for (const m of run(serializer, plan, pipelineRate)) {
              expect(typeof m).toBe("string");
              const parsed = JSON.parse(m as string) as {
                event: string;
                stream_sid: string;
                media?: { payload: string };
              };
              expect(parsed.stream_sid).toBe("S1");
              if (parsed.event === "clear") continue;
              const size = Buffer.from(parsed.media!.payload, "base64").byteLength;
              expect(size % 320).toBe(0);
              expect(size % frameBytes).toBe(0);
              expect(size).toBeGreaterThanOrEqual(3200);
              expect(size).toBeLessThanOrEqual(100_000);
            }
          } finally {
            serializer.dispose();
          }
        },
      ),
      { numRuns: 100, seed: 12 },
    );
  });

  it("holds at most one message's worth between calls: the end of an answer sends one message of exactly the packet size", () => {
    fc.assert(
      fc.property(fc.constantFrom<ExotelSampleRate>(8000, 16000, 24000), steps(5000), (rate, plan) => {
        for (const serializer of [
          new ExotelFrameSerializer({ sampleRate: rate }),
          new VonageFrameSerializer({ sampleRate: rate }),
        ]) {
          const exotel = serializer instanceof ExotelFrameSerializer;
          serializer.deserialize(
            exotel
              ? JSON.stringify({ event: "start", start: { stream_sid: "S1" } })
              : JSON.stringify({ event: "websocket:connected", "content-type": `audio/l16;rate=${rate}` }),
          );
          run(serializer, plan, rate, false);
          const tail = serializer.serialize(new BotStoppedSpeakingFrame());
          if (tail === undefined) continue;
          expect(Array.isArray(tail)).toBe(false);
          const size = exotel
            ? Buffer.from(
                (JSON.parse(tail as string) as { media: { payload: string } }).media.payload,
                "base64",
              ).byteLength
            : (tail as Uint8Array).byteLength;
          expect(size).toBe(exotel ? (rate === 24000 ? 3840 : 3200) : (rate / 50) * 2);
          expect(serializer.serialize(new TTSStoppedFrame())).toBeUndefined();
        }
      }),
      { numRuns: 300, seed: 13 },
    );
  });
});
