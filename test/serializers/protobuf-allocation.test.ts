/**
 * What decoding allocates, for the messages built to make a decoder allocate the most: each one
 * at the size limit, measured on the heap (plus array buffers) inside the test.
 */
import { InputAudioRawFrame } from "../../src/index.js";
import { describe, expect, it } from "vitest";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { MAX_FIELDS_PER_MESSAGE } from "../../src/serializers/protobuf/schema.js";
import { measureAllocation } from "./allocation.js";

const LIMIT = 64 * 1024;
const serializer = new ProtobufFrameSerializer({ maxMessageBytes: LIMIT });
/** The frame, the result, an error and its stack (measured: 4–6 KiB). */
const CONSTANT_BYTES = 16 * 1024;

function varint(value: number): Buffer {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

/** A length-delimited field. */
const field = (number: number, inner: Buffer): Buffer =>
  Buffer.concat([varint(number * 8 + 2), varint(inner.length), inner]);
/** `unit` (hex) repeated to fill about `bytes` bytes. */
const repeat = (unit: string, bytes: number): Buffer =>
  Buffer.from(unit.repeat(Math.floor(bytes / (unit.length / 2))), "hex");
/** A JSON text in a message frame, the whole message about LIMIT bytes. */
const json = (element: string): Buffer =>
  field(
    4,
    field(
      1,
      Buffer.from(`[${`${element},`.repeat(Math.floor((LIMIT - 16) / (element.length + 1)) - 1)}${element}]`),
    ),
  );

const protobufCases: Record<string, Buffer> = {
  "a frame member repeated (the last one wins)": repeat("2a00", LIMIT),
  "two frame members alternating": repeat("0a002a00", LIMIT),
  "unknown fields": repeat("3000", LIMIT),
  "a bytes field repeated inside audio": field(2, repeat("1a00", LIMIT - 8)),
  "a string field repeated inside text": field(1, repeat("1a0161", LIMIT - 8)),
  "groups nested as deep as the message allows": Buffer.concat([
    repeat("33", LIMIT / 2),
    repeat("34", LIMIT / 2),
  ]),
  "audio as large as the limit": field(
    2,
    Buffer.concat([Buffer.from("20807d2801", "hex"), field(3, Buffer.alloc(LIMIT - 16))]),
  ),
  "text as large as the limit": field(1, field(3, Buffer.alloc(LIMIT - 8, 0x61))),
  "a length prefix that claims 2 GiB": Buffer.from("0affffffff07", "hex"),
  "a length prefix that claims 2 GiB inside audio": Buffer.from(
    "12 08 1a ff ff ff ff 07 28 01".replaceAll(" ", ""),
    "hex",
  ),
};

const jsonCases: Record<string, Buffer> = {
  "JSON of empty arrays": json("[]"),
  "JSON of empty objects": json("{}"),
  "JSON of zeros": json("0"),
  "JSON nested to the depth limit, repeated": json(`${"[".repeat(120)}${"]".repeat(120)}`),
};

/** Least allocation measured over three decodes, in bytes (the first runs also compile code). */
function allocation(data: Buffer): number {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++)
    least = Math.min(least, measureAllocation(() => serializer.deserialize(data)).bytes);
  return least;
}

describe("ProtobufFrameSerializer: allocation for the worst messages at the size limit", () => {
  for (const [name, data] of Object.entries(protobufCases)) {
    it(`${name}: allocates at most twice its ${data.length} bytes (plus a constant)`, () => {
      expect(data.length).toBeLessThanOrEqual(LIMIT);
      for (let i = 0; i < 3; i++) serializer.deserialize(data); // warm up
      expect(allocation(data)).toBeLessThanOrEqual(2 * data.length + CONSTANT_BYTES);
    });
  }

  for (const [name, data] of Object.entries(jsonCases)) {
    it(`${name}: allocates at most 32 times its ${data.length} bytes (V8's object graph for JSON)`, () => {
      expect(data.length).toBeLessThanOrEqual(LIMIT);
      for (let i = 0; i < 3; i++) serializer.deserialize(data);
      expect(allocation(data)).toBeLessThanOrEqual(32 * data.length + CONSTANT_BYTES);
    });
  }

  it("a decoded audio frame holds the audio's size, not the message's buffer", async () => {
    const data = protobufCases["audio as large as the limit"]!;
    const result = serializer.deserialize(Buffer.from(data));
    expect(result.ok).toBe(true);
    // The audio is copied into a buffer of its own size: holding the frame does not hold the
    // socket's message buffer. (Checked on the buffer itself: a heap measurement here was at the
    // mercy of whatever else the test worker allocated.)
    const frame = result.ok ? (result.frames[0] as InputAudioRawFrame) : undefined;
    expect(frame).toBeInstanceOf(InputAudioRawFrame);
    expect(frame!.audio.buffer.byteLength).toBe(frame!.audio.byteLength);
    expect(frame!.audio.byteLength).toBeLessThanOrEqual(data.length);
  });

  it(`refuses more than ${MAX_FIELDS_PER_MESSAGE} fields at one level as malformed, in words`, () => {
    const result = serializer.deserialize(protobufCases["two frame members alternating"]!);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe("malformed");
      expect(result.error.message).toMatch(/more than 16 fields in one Frame.*send one frame per message/);
    }
    const inner = serializer.deserialize(protobufCases["a bytes field repeated inside audio"]!);
    expect(!inner.ok && inner.error.message).toMatch(/more than 16 fields in one frame member/);
  });
});
