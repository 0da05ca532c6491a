import { createRequire } from "node:module";
import type * as ProtobufJs from "protobufjs";

/**
 * The text of `frames.proto` (next to this file), Pipecat's wire schema. It is embedded because the
 * build ships compiled JavaScript only; `test/serializers/protobuf-schema.test.ts` fails if the two
 * ever differ, so edit the `.proto` file and paste it here.
 * @internal
 */
export const FRAMES_PROTO = `// Pipecat's WebSocket wire format, as voicepipe reads and writes it.
//
// Every binary WebSocket message is one "Frame", with no length prefix and no batching.
// Field numbers and types follow Pipecat's frames.proto (package "pipecat"), so the bytes are
// the same as those the official Pipecat clients and servers send. Do not renumber a field: the
// numbers are the protocol.
//
// voicepipe parses this file's text at run time with protobufjs (the copy embedded in
// schema.ts; a test keeps the two identical). See docs/design/serializers.md.

syntax = "proto3";

package pipecat;

// A piece of text (the receiver turns it into a TextFrame).
message TextFrame {
  uint64 id = 1;    // the sender's frame id; voicepipe does not reuse it on receipt
  string name = 2;  // the sender's frame name, e.g. "TextFrame#3"
  string text = 3;
}

// PCM audio: signed 16-bit little-endian samples, interleaved when there is more than one channel.
message AudioRawFrame {
  uint64 id = 1;
  string name = 2;
  bytes audio = 3;
  uint32 sample_rate = 4;   // Hz
  uint32 num_channels = 5;
  optional uint64 pts = 6;  // presentation time in nanoseconds; explicit presence
}

// A final transcription of what a user said.
message TranscriptionFrame {
  uint64 id = 1;
  string name = 2;
  string text = 3;
  string user_id = 4;
  string timestamp = 5;  // ISO-8601 text, e.g. "2026-01-01T00:00:00.000Z", not a number
}

// An application message (RTVI and others): a JSON document, as text.
message MessageFrame {
  string data = 1;
}

// The bot was interrupted: a client that understands it flushes its playback buffer.
message InterruptionFrame {
  uint64 id = 1;
  string name = 2;
}

// One WebSocket message: exactly one of the frames above.
message Frame {
  oneof frame {
    TextFrame text = 1;
    AudioRawFrame audio = 2;
    TranscriptionFrame transcription = 3;
    MessageFrame message = 4;
    InterruptionFrame interruption = 5;
  }
}
`;

/** The wire messages as protobufjs reads them (`keepCase`: field names as in the `.proto` file). */
export interface WireTextFrame {
  id?: WireUint64;
  name?: string;
  text?: string;
}

/** See {@link WireTextFrame}. */
export interface WireAudioRawFrame {
  id?: WireUint64;
  name?: string;
  audio?: Uint8Array;
  sample_rate?: number;
  num_channels?: number;
  /**
   * Nanoseconds. Explicit presence: set only when the sender wrote it, which only
   * `Object.hasOwn(audio, "pts")` tells (an unset pts reads as protobufjs' default, a zero `Long`).
   */
  pts?: WireUint64;
}

/** See {@link WireTextFrame}. */
export interface WireTranscriptionFrame {
  id?: WireUint64;
  name?: string;
  text?: string;
  user_id?: string;
  timestamp?: string;
}

/** See {@link WireTextFrame}. */
export interface WireMessageFrame {
  data?: string;
}

/** See {@link WireTextFrame}. */
export interface WireInterruptionFrame {
  id?: WireUint64;
  name?: string;
}

/** Which member of the `Frame` oneof is set. */
export type WireFrameKind = "text" | "audio" | "transcription" | "message" | "interruption";

/**
 * One `pipecat.Frame`: at most one member set; `frame` names it (protobufjs keeps the last one
 * read, as proto3 requires). Members not set read as `null` once decoded.
 */
export interface WireFrame {
  frame?: WireFrameKind;
  text?: WireTextFrame | null;
  audio?: WireAudioRawFrame | null;
  transcription?: WireTranscriptionFrame | null;
  message?: WireMessageFrame | null;
  interruption?: WireInterruptionFrame | null;
}

/**
 * A `uint64` as protobufjs hands it over: a number when writing, a `Long` (protobufjs' 64-bit
 * integer) when reading.
 */
export type WireUint64 = number | { toNumber(): number };

/** A `uint64` read from the wire, as a JavaScript number (exact up to 2^53). */
export function uint64ToNumber(value: WireUint64): number {
  return typeof value === "number" ? value : value.toNumber();
}

/** Encodes and decodes `pipecat.Frame` messages. @internal */
export interface FrameCodec {
  /** The protobuf bytes of `frame`. */
  encode(frame: WireFrame): Uint8Array;
  /**
   * Reads one `Frame`. Throws protobufjs' errors on bytes that are not one (truncated, a wrong
   * wire type, invalid UTF-8 in a string, nesting past protobufjs' recursion limit). Unknown
   * fields are skipped, never kept.
   */
  decode(bytes: Uint8Array): WireFrame;
  /** The field number and wire type of the first field in `bytes`, for error messages; `undefined` if unreadable. */
  firstTag(bytes: Uint8Array): { field: number; wireType: number } | undefined;
}

/**
 * Most fields a message may hold at one level. A well-formed `Frame` holds one field (its member)
 * and the largest member, `AudioRawFrame`, six. Protobuf lets a field repeat (the last one wins),
 * and protobufjs builds an object for each repeat before dropping it, so a message of 2-byte
 * repeats would make the decoder allocate about 50 times the message's size; counting the fields
 * first bounds what decoding allocates to the message's size plus a constant.
 * @internal
 */
export const MAX_FIELDS_PER_MESSAGE = 16;

let codec: FrameCodec | undefined;

/**
 * The codec for `pipecat.Frame`, built from {@link FRAMES_PROTO} on first use (parsing the
 * schema and generating protobufjs' encoder and decoder takes milliseconds, paid once per
 * process, on first use rather than at import).
 * @internal
 */
export function frameCodec(): FrameCodec {
  if (codec) return codec;
  // Loaded on first use, not at import: protobufjs takes tens of milliseconds to load, which every
  // `import "voicepipe"` would pay whether or not it speaks this format.
  const protobuf = createRequire(import.meta.url)("protobufjs") as typeof ProtobufJs;
  const root = protobuf.parse(FRAMES_PROTO, { keepCase: true }).root;
  const type = root.lookupType("pipecat.Frame");
  codec = {
    encode: (frame) => type.encode(frame).finish(),
    decode: (bytes) => {
      checkFieldCounts(protobuf, bytes, true);
      const reader = protobuf.Reader.create(bytes);
      // Per reader, never the process-wide default: unknown fields would otherwise be kept as
      // one Buffer view each, which a message of tiny unknown fields turns into many times its size.
      reader.discardUnknown = true;
      return type.decode(reader) as unknown as WireFrame;
    },
    firstTag: (bytes) => {
      try {
        const tag = protobuf.Reader.create(bytes).uint32();
        return { field: tag >>> 3, wireType: tag & 7 };
      } catch {
        return undefined;
      }
    },
  };
  return codec;
}

/**
 * Throws unless `bytes` (and, for the top level, each length-delimited field, the member
 * messages) hold at most {@link MAX_FIELDS_PER_MESSAGE} fields. Walks tags and skips values with
 * protobufjs' reader, allocating nothing per field; errors in the structure itself are protobufjs'.
 */
function checkFieldCounts(protobuf: typeof ProtobufJs, bytes: Uint8Array, topLevel: boolean): void {
  const reader = protobuf.Reader.create(bytes);
  let fields = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (++fields > MAX_FIELDS_PER_MESSAGE) {
      throw new RangeError(
        `more than ${MAX_FIELDS_PER_MESSAGE} fields in one ${topLevel ? "Frame" : "frame member"} ` +
          "(a Frame carries one frame of at most six fields; send one frame per message)",
      );
    }
    const wireType = tag & 7;
    if (wireType !== 2 || !topLevel) {
      reader.skipType(wireType, 0, tag >>> 3);
      continue;
    }
    const length = reader.uint32();
    const start = reader.pos;
    reader.skip(length); // throws "index out of range" past the end
    checkFieldCounts(protobuf, bytes.subarray(start, start + length), false);
  }
}
