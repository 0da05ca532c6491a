/**
 * Fuzz of the protobuf decoder: 100,000 inputs a client could send (random bytes, valid frames with
 * absurd values, mutated and truncated frames, wrong wire types, oversized messages, text), each
 * checked for: no throw, a typed answer, frames within the serializer's limits, nothing larger
 * than the message; and every 5th (20,000 in all) for what decoding allocated, measured with V8's
 * sampling heap profiler, against a small multiple of the message's size.
 */
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  InputAudioRawFrame,
  InputTransportMessageFrame,
  InterruptionFrame,
  TextFrame,
  TranscriptionFrame,
} from "../../src/index.js";
import { FrameDeserializeError, ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { frameCodec, type WireFrame } from "../../src/serializers/protobuf/schema.js";
import { settledHeap } from "../support/gc.js";
import { measureAllocation } from "./allocation.js";

/** Total inputs across the suite; the CI run is this many. FUZZ_RUNS overrides it for a longer local run. */
const TOTAL_RUNS = Number(process.env["FUZZ_RUNS"] ?? 100_000);
/** One input in this many is also measured for allocation (a measurement costs about 40 µs). */
const MEASURE_EVERY = 5;
const MAX_MESSAGE_BYTES = 4096;
const serializer = new ProtobufFrameSerializer({ maxMessageBytes: MAX_MESSAGE_BYTES });

/**
 * Allocation allowed for one message, in bytes: protobuf fields at most twice the message (the
 * decoded string or bytes view, plus the audio copy) and JSON at most 32 times (V8's object graph
 * for `[[[…]]]` is about 29 times its text; docs/design/serializers.md), plus a constant for the
 * frame, the result and an error with its stack (measured: 4–6 KiB).
 */
const ALLOCATION_SLACK_BYTES = 16 * 1024;
const allowedBytes = (length: number, json: boolean): number =>
  (json ? 32 : 2) * length + ALLOCATION_SLACK_BYTES;

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

const concat = (parts: (Uint8Array | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => Buffer.from(p)));

// ---- Inputs ---------------------------------------------------------------------------------------

const uint64 = fc.oneof(
  fc.constantFrom(0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: 2 ** 31 }),
);
// "binary" strings include unpaired surrogates, which protobufjs writes as invalid UTF-8.
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }));
const sampleRate = fc.oneof(
  { arbitrary: fc.constantFrom(8000, 16000, 22050, 24000, 44100, 48000), weight: 3 },
  { arbitrary: fc.constantFrom(0, 1, 7999, 48001, 96000, 2 ** 32 - 1), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }), weight: 1 },
);
const channels = fc.oneof(
  { arbitrary: fc.constantFrom(1, 2), weight: 3 },
  { arbitrary: fc.constantFrom(0, 3, 255, 2 ** 32 - 1), weight: 1 },
);
const pcm = fc.oneof(
  fc.int16Array({ maxLength: 550 }).map((a) => new Uint8Array(a.buffer)),
  fc.uint8Array({ maxLength: 1100 }),
);
/** JSON documents: a pool sampled once (fc.json costs tens of µs per value, too slow for 100,000 runs). */
const jsonPool = fc.sample(fc.json({ maxDepth: 4 }), { numRuns: 500, seed: 42 });
const jsonData = fc.oneof(
  fc.constantFrom(...jsonPool),
  text,
  fc.integer({ min: 100, max: 300 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.integer({ min: 1, max: 1300 }).map((n) => `[${"{},".repeat(n)}{}]`),
  fc.constantFrom("", "{", "null", '"\\ud800"', '{"__proto__":{"polluted":1}}'),
);
const timestamp = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom("", "2026-01-01T00:00:00", "2026-13-45T00:00:00Z", "2026-01-01T00:00:00.123456+00:00"),
  text,
);

const wireFrame: fc.Arbitrary<WireFrame> = fc.oneof(
  fc.record({ text: fc.record({ id: uint64, name: text, text }, { requiredKeys: [] }) }),
  fc.record({
    audio: fc.record(
      {
        id: uint64,
        name: text,
        audio: pcm,
        sample_rate: sampleRate,
        num_channels: channels,
        pts: uint64,
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({
    transcription: fc.record(
      { id: uint64, name: text, text, user_id: text, timestamp },
      { requiredKeys: [] },
    ),
  }),
  fc.record({ message: fc.record({ data: jsonData }, { requiredKeys: [] }) }),
  fc.record({ interruption: fc.record({ id: uint64, name: text }, { requiredKeys: [] }) }),
);
const validMessage = wireFrame.map((frame) => frameCodec().encode(frame));

type Mutation = {
  kind: "flip" | "set" | "insert" | "delete" | "duplicate";
  at: number;
  value: number;
  length: number;
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("flip", "set", "insert", "delete", "duplicate"),
  at: fc.nat(),
  value: fc.integer({ min: 0, max: 255 }),
  length: fc.integer({ min: 1, max: 16 }),
});

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === "flip" && out.length > 0) out[at] = out[at]! ^ (1 << (m.value & 7));
    else if (m.kind === "set" && out.length > 0) out[at] = m.value;
    else if (m.kind === "insert")
      out = Buffer.concat([out.subarray(0, at), Buffer.alloc(m.length, m.value), out.subarray(at)]);
    else if (m.kind === "delete") out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
    else if (m.kind === "duplicate") out = Buffer.concat([out, out.subarray(at, at + m.length)]);
  }
  return out;
}

const mutated = fc
  .tuple(validMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([bytes, ms]) => mutate(bytes, ms));
const truncated = fc
  .tuple(validMessage, fc.nat())
  .filter(([bytes]) => bytes.length > 1)
  .map(([bytes, n]) => bytes.subarray(0, n % bytes.length));

/** Fields with any number (0 included) and any wire type (6 and 7 do not exist), at the top or inside a member. */
const rawField = fc
  .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 12 }))
  .map(([field, wireType, payload]) => concat([varint(field * 8 + wireType), payload]));
const wrongWireTypes = fc.oneof(
  fc.array(rawField, { minLength: 1, maxLength: 20 }).map(concat),
  fc
    .tuple(fc.integer({ min: 1, max: 5 }), fc.array(rawField, { minLength: 1, maxLength: 20 }))
    .map(([member, fields]) => {
      const inner = concat(fields);
      return concat([[member * 8 + 2, ...varint(inner.length)], inner]);
    }),
);

/** One short field repeated many times (legal protobuf: the last one wins), at the top or inside a member. */
const repeatedFields = fc
  .tuple(
    fc.constantFrom("0a00", "2a00", "0a002a00", "1a00", "1a0161", "3000", "0801", "220a02"),
    fc.integer({ min: 2, max: 1800 }),
    fc.constantFrom(0, 1, 2, 3, 4, 5),
  )
  .map(([unit, times, member]) => {
    const inner = Buffer.from(unit.repeat(times), "hex");
    return member === 0 ? inner : concat([[member * 8 + 2, ...varint(inner.length)], inner]);
  });

const oversized = fc
  .tuple(fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: 4 * MAX_MESSAGE_BYTES }), validMessage)
  .map(([length, prefix]) => {
    const out = new Uint8Array(length);
    out.set(prefix.subarray(0, length));
    return out;
  });

const input: fc.Arbitrary<Uint8Array | string> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 600 }), weight: 3 },
      { arbitrary: validMessage, weight: 5 },
      { arbitrary: mutated, weight: 4 },
      { arbitrary: truncated, weight: 2 },
      { arbitrary: wrongWireTypes, weight: 3 },
      { arbitrary: repeatedFields, weight: 1 },
      { arbitrary: oversized, weight: 1 },
      { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
    ),
    fc.constantFrom("as-is", "buffer", "odd-offset"),
  )
  .map(([data, view]) => {
    if (typeof data === "string" || view === "as-is") return data;
    if (view === "buffer") return Buffer.from(data);
    const shifted = new Uint8Array(data.byteLength + 1); // a view at an odd offset, as in a pooled buffer
    shifted.set(data, 1);
    return shifted.subarray(1);
  });

// ---- Checks -----------------------------------------------------------------------------------

interface Tally {
  runs: number;
  frames: Record<string, number>;
  refusals: Record<string, number>;
  maxCallMs: number;
  measured: number;
  maxAllocationRatio: number;
}

/**
 * Fails the property with `what` unless `ok`. Used on the hot path instead of `expect`, which costs
 * microseconds per call: 100,000 runs times a dozen checks is most of the run otherwise.
 */
function must(ok: boolean, what: () => string): void {
  if (!ok) throw new Error(what());
}

const REASONS = new Set(["oversized", "malformed", "unknown-type", "invalid"]);

function checkOne(data: Uint8Array | string, tally: Tally): void {
  const length = typeof data === "string" ? data.length : data.byteLength;
  const started = performance.now();
  const result = serializer.deserialize(data); // a throw fails the property
  const tookMs = performance.now() - started;
  tally.runs++;
  tally.maxCallMs = Math.max(tally.maxCallMs, tookMs);

  let json = false;
  if (!result.ok) {
    const error = result.error;
    must(error instanceof FrameDeserializeError, () => `not a FrameDeserializeError: ${String(error)}`);
    must(REASONS.has(error.reason), () => `unknown reason ${error.reason}`);
    must(error.message.length > 40, () => `too few words: ${error.message}`);
    must(
      length <= MAX_MESSAGE_BYTES || error.reason === "oversized",
      () => `${length} bytes refused as ${error.reason}`,
    );
    tally.refusals[error.reason] = (tally.refusals[error.reason] ?? 0) + 1;
    json = error.detail.startsWith("message.data"); // JSON.parse may have built part of a graph
  } else {
    must(length <= MAX_MESSAGE_BYTES, () => `an oversized message (${length} bytes) was decoded`);
    must(result.frames.length <= 1, () => `${result.frames.length} frames from one message`);
    for (const frame of result.frames) {
      tally.frames[frame.constructor.name] = (tally.frames[frame.constructor.name] ?? 0) + 1;
      if (frame instanceof InputAudioRawFrame) {
        must(frame.sampleRate >= 8000 && frame.sampleRate <= 48000, () => `sample rate ${frame.sampleRate}`);
        must(frame.numChannels === 1 || frame.numChannels === 2, () => `${frame.numChannels} channels`);
        must(
          frame.audio.length > 0 && frame.audio.length % frame.numChannels === 0,
          () => `${frame.audio.length} samples`,
        );
        must(frame.audio.byteLength <= length, () => `${frame.audio.byteLength} audio bytes from ${length}`);
        // Its own buffer, exactly its size: it pins nothing of the message.
        must(
          frame.audio.buffer.byteLength === frame.audio.byteLength,
          () => "audio is a view into a larger buffer",
        );
      } else if (frame instanceof TranscriptionFrame) {
        must(
          frame.text.length + frame.userId.length <= length,
          () => "transcription longer than the message",
        );
        must(Number.isFinite(frame.timestampMs), () => `timestampMs ${frame.timestampMs}`);
      } else if (frame instanceof TextFrame) {
        must(frame.text.length <= length, () => "text longer than the message");
      } else if (frame instanceof InputTransportMessageFrame) {
        json = true;
      } else {
        must(frame instanceof InterruptionFrame, () => `unexpected ${frame.name}`);
      }
    }
  }
  if (tally.runs % MEASURE_EVERY === 0) checkAllocation(data, length, json, tally);
}

function checkAllocation(data: Uint8Array | string, length: number, json: boolean, tally: Tally): void {
  const allowed = allowedBytes(length, json);
  let allocated = measureAllocation(() => serializer.deserialize(data)).bytes;
  // V8 compiling a path the first times allocates code and feedback once; what decoding itself
  // allocates is there every time, so a reading over the bound is taken again, up to twice.
  for (let retry = 0; retry < 2 && allocated > allowed; retry++) {
    allocated = Math.min(allocated, measureAllocation(() => serializer.deserialize(data)).bytes);
  }
  tally.measured++;
  // Small messages are dominated by the constant (an error and its stack); the ratio means something from 1 KiB.
  if (length >= 1024) tally.maxAllocationRatio = Math.max(tally.maxAllocationRatio, allocated / length);
  must(
    allocated <= allowed,
    () => `allocated ${allocated} bytes for a ${length}-byte message (allowed ${allowed})`,
  );
}

const PARTS = 4;

describe("ProtobufFrameSerializer.deserialize under fuzzing", () => {
  const tally: Tally = {
    runs: 0,
    frames: {},
    refusals: {},
    maxCallMs: 0,
    measured: 0,
    maxAllocationRatio: 0,
  };

  for (let part = 1; part <= PARTS; part++) {
    it(`never throws, answers in words, stays within its limits and the message's size (part ${part} of ${PARTS})`, () => {
      fc.assert(
        fc.property(input, (data) => checkOne(data, tally)),
        {
          numRuns: Math.ceil(TOTAL_RUNS / PARTS),
          seed: process.env["FUZZ_SEED"] ? Number(process.env["FUZZ_SEED"]) : undefined,
        },
      );
    });
  }

  it("covered every outcome, and no call came near a hang", () => {
    expect(tally.runs).toBeGreaterThanOrEqual(TOTAL_RUNS);
    expect(tally.measured).toBeGreaterThanOrEqual(Math.floor(TOTAL_RUNS / MEASURE_EVERY));
    for (const reason of ["oversized", "malformed", "unknown-type", "invalid"]) {
      expect(tally.refusals[reason] ?? 0, `refusals: ${reason}`).toBeGreaterThan(0);
    }
    for (const kind of [
      "InputAudioRawFrame",
      "TextFrame",
      "TranscriptionFrame",
      "InputTransportMessageFrame",
      "InterruptionFrame",
    ]) {
      expect(tally.frames[kind] ?? 0, `frames: ${kind}`).toBeGreaterThan(0);
    }
    // A hang guard, not a speed test: every message here is at most 16 KiB.
    expect(tally.maxCallMs).toBeLessThan(1000);
    if (process.env["FUZZ_REPORT"]) console.log(JSON.stringify(tally));
  });

  it("keeps nothing: the heap after 20,000 decoded messages is where it was", async () => {
    const data = fc.sample(input, { numRuns: 2_000, seed: 7 });
    for (let i = 0; i < 3; i++) for (const d of data) serializer.deserialize(d); // warm up V8's code
    const before = await settledHeap();
    for (let i = 0; i < 10; i++) for (const d of data) serializer.deserialize(d);
    const grown = (await settledHeap()) - before;
    expect(grown).toBeLessThan(1024 * 1024);
  });
});
