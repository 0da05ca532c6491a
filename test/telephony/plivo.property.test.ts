/**
 * Fuzz of the Plivo stream decoder: random text and bytes, Plivo-shaped messages with absurd
 * values (every field of start, media, dtmf, playedStream, clearedAudio, stop given any JSON),
 * hostile `extra_headers`, and whole streams of them into one serializer. Every message must be
 * answered without a throw: frames of known kinds no larger than the message could carry, or a
 * refusal with a reason and words; and the serializer's state stays bounded (one call, at most
 * 64 parameters of bounded size, at most one end).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputAudioRawFrame } from "../../src/frames/audio.js";
import { InputDTMFFrame } from "../../src/frames/dtmf.js";
import { ErrorFrame } from "../../src/frames/error.js";
import type { Frame } from "../../src/frames/frame.js";
import { EndTaskFrame } from "../../src/frames/lifecycle.js";
import { MAX_EXTRA_HEADERS_PAIRS } from "../../src/serializers/telephony/plivo-extra-headers.js";
import { PLIVO_CONTENT_TYPES, PlivoFrameSerializer } from "../../src/serializers/telephony/plivo.js";

/** Inputs per property; FUZZ_RUNS overrides it for a longer local run, FUZZ_SEED replays a seed. */
const RUNS = Number(process.env["FUZZ_RUNS"] ?? 4_000);
const SEED = process.env["FUZZ_SEED"] ? Number(process.env["FUZZ_SEED"]) : undefined;
const MAX_MESSAGE_BYTES = 8192;
const REASONS = ["oversized", "malformed", "unknown-type", "invalid"];

// ---- Inputs ---------------------------------------------------------------------------------------

const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, "", 0, -1, 1e308, "8000", "audio/x-mulaw", "audio/x-l16", [], {}),
);
const bytes = fc.uint8Array({ maxLength: 700 });
const base64 = fc.oneof(
  bytes.map((b) => Buffer.from(b).toString("base64")),
  fc.string({ maxLength: 60 }),
  fc.constantFrom("", "====", "AA=", "A", "////", "+/+/"),
);
const hostileHeaders = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc
    .tuple(
      fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })), { maxLength: 120 }),
      fc.constantFrom(",", ";", ", "),
    )
    .map(([pairs, separator]) => pairs.map(([k, v]) => `${k}=${v}`).join(separator)),
  // Many well-formed pairs under the length limit: the cap on pairs is what bounds them.
  fc
    .array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9]{1,4}$/), fc.stringMatching(/^[a-z0-9]{0,2}$/)), {
      minLength: 60,
      maxLength: 250,
    })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(",")),
  fc.constantFrom(
    "__proto__=x,constructor=y,prototype=z",
    "=".repeat(500),
    ",".repeat(3000),
    "a=" + "b".repeat(5000),
    Array.from({ length: 400 }, (_, i) => `k${i}=v`).join(";"),
  ),
  anyJson,
);
const mediaFormat = fc.oneof(
  fc.record({
    encoding: fc.constantFrom("audio/x-mulaw", "audio/x-l16"),
    sampleRate: fc.constantFrom(8000, 16000),
  }),
  fc.record({ encoding: anyJson, sampleRate: anyJson }, { requiredKeys: [] }),
  anyJson,
);
const id = fc.oneof(fc.uuid(), fc.string({ maxLength: 20 }), anyJson);

const start = fc.record(
  {
    event: fc.constant("start"),
    sequenceNumber: anyJson,
    start: fc.oneof(
      fc.record(
        { callId: id, streamId: id, accountId: id, tracks: anyJson, mediaFormat },
        { requiredKeys: ["callId", "streamId"] },
      ),
      anyJson,
    ),
    extra_headers: hostileHeaders,
  },
  { requiredKeys: ["event", "start"] },
);
const media = fc.record(
  {
    event: fc.constant("media"),
    sequenceNumber: anyJson,
    streamId: id,
    media: fc.oneof(
      fc.record(
        {
          track: fc.oneof(fc.constantFrom("inbound", "outbound"), anyJson),
          timestamp: anyJson,
          chunk: anyJson,
          payload: fc.oneof(base64, anyJson),
        },
        { requiredKeys: ["payload"] },
      ),
      anyJson,
    ),
  },
  { requiredKeys: ["event", "media"] },
);
const dtmf = fc.record({
  event: fc.constant("dtmf"),
  dtmf: fc.oneof(
    fc.record({
      track: fc.constantFrom("inbound", "outbound"),
      digit: fc.oneof(fc.constantFrom("1", "#", "*", "A", "10", ""), anyJson),
    }),
    anyJson,
  ),
});
const other = fc.record({
  event: fc.oneof(
    fc.constantFrom("playedStream", "clearedAudio", "stop", "connected", "mark", "__proto__"),
    fc.string({ maxLength: 20 }),
  ),
  streamId: id,
  name: anyJson,
});

/** Media as Plivo sends it, of any length (odd included), so that audio decoding is exercised. */
const wellFormedMedia = fc.record({
  event: fc.constant("media"),
  sequenceNumber: fc.nat(),
  streamId: fc.uuid(),
  media: fc.record({
    track: fc.constant("inbound"),
    timestamp: fc.constant("1700000000000"),
    chunk: fc.nat(),
    payload: bytes.map((b) => Buffer.from(b).toString("base64")),
  }),
});

const plivoShaped = fc
  .oneof(start, media, { weight: 2, arbitrary: wellFormedMedia }, dtmf, other)
  .map((m) => JSON.stringify(m));
const message: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: plivoShaped },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: anyJson.map((j) => JSON.stringify(j) ?? "null") },
  { weight: 1, arbitrary: bytes },
  { weight: 1, arbitrary: plivoShaped.map((s) => s.slice(0, Math.floor(s.length / 2))) }, // truncated
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(MAX_MESSAGE_BYTES + 1), "[".repeat(5000)) },
);

// ---- Checks ---------------------------------------------------------------------------------------

/** One message: never throws; frames of known kinds, no larger than the message; refusals in words. */
function checkOne(serializer: PlivoFrameSerializer, data: string | Uint8Array): readonly Frame[] {
  const size = typeof data === "string" ? data.length : data.byteLength;
  const result = serializer.deserialize(data);
  if (!result.ok) {
    expect(REASONS).toContain(result.error.reason);
    expect(result.error.detail.length).toBeGreaterThan(0);
    expect(result.error.code).toBe("VP_DESERIALIZE");
    return [];
  }
  for (const frame of result.frames) {
    if (frame instanceof InputAudioRawFrame) {
      // base64 carries 3 bytes in 4 characters, and a sample takes at least one byte.
      expect(frame.audio.length).toBeLessThanOrEqual((size * 3) / 4);
      expect(frame.audio.length).toBeGreaterThan(0);
      expect([8000, 16000]).toContain(frame.sampleRate);
    } else if (frame instanceof ErrorFrame) {
      expect(frame.error.message.length).toBeGreaterThan(0);
      expect(frame.error.message.length).toBeLessThan(1000); // bounded: nothing of the message is echoed at length
    } else {
      expect(frame instanceof InputDTMFFrame || frame instanceof EndTaskFrame).toBe(true);
    }
  }
  // Bounded state: one call whose parameters are few and small.
  const call = serializer.call;
  if (call) {
    const keys = Object.keys(call.customParameters);
    expect(keys.length).toBeLessThanOrEqual(MAX_EXTRA_HEADERS_PAIRS);
    for (const k of keys) {
      expect(k.length).toBeLessThanOrEqual(64);
      expect(call.customParameters[k]!.length).toBeLessThanOrEqual(512);
    }
  }
  return result.frames;
}

describe("PlivoFrameSerializer fuzz", () => {
  it("answers every message without a throw, within the message's size, in words when refused", () => {
    fc.assert(
      fc.property(fc.constantFrom(...PLIVO_CONTENT_TYPES), message, (contentType, data) => {
        checkOne(new PlivoFrameSerializer({ contentType, maxMessageBytes: MAX_MESSAGE_BYTES }), data);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("a whole stream of them into one serializer: one call, at most one end, state bounded", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PLIVO_CONTENT_TYPES),
        fc.array(message, { minLength: 1, maxLength: 40 }),
        (contentType, stream) => {
          const serializer = new PlivoFrameSerializer({ contentType, maxMessageBytes: MAX_MESSAGE_BYTES });
          let ends = 0;
          let firstCall: unknown;
          for (const data of stream) {
            ends += checkOne(serializer, data).filter((f) => f instanceof EndTaskFrame).length;
            firstCall ??= serializer.call;
            if (firstCall) expect(serializer.call).toBe(firstCall); // a later start never replaces the call
          }
          expect(ends).toBeLessThanOrEqual(1);
          serializer.dispose();
        },
      ),
      { numRuns: Math.ceil(RUNS / 8), seed: SEED },
    );
  });

  it("leaves Object.prototype alone whatever extra_headers says", () => {
    fc.assert(
      fc.property(hostileHeaders, (headers) => {
        const serializer = new PlivoFrameSerializer();
        checkOne(
          serializer,
          JSON.stringify({ event: "start", start: { callId: "c", streamId: "s" }, extra_headers: headers }),
        );
        expect(Object.getPrototypeOf({})).toBe(Object.prototype);
        expect(Object.keys(Object.prototype)).toEqual([]);
      }),
      { numRuns: Math.ceil(RUNS / 4), seed: SEED },
    );
  });
});
