import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type * as ProtobufJs from "protobufjs";
import { describe } from "../../errors.js";

/**
 * Where Pipecat's wire schema is: `frames.proto`, next to this module both in `src/` (run from
 * source) and in `dist/` (`npm run build` copies it there, and the package ships `dist`).
 */
const FRAMES_PROTO_URL = new URL("./frames.proto", import.meta.url);

/**
 * The text of the `.proto` file at `url`. Throws an error naming the file and what to do when it
 * cannot be read (a build that did not copy it, a package with files missing).
 * @internal
 */
export function readProtoFile(url: URL): string {
  try {
    return readFileSync(url, "utf8");
  } catch (error) {
    throw new Error(
      `voicepipe: cannot read the protobuf schema ${fileURLToPath(url)} (${describe(error)}); ` +
        "the package is incomplete: reinstall voicepipe, or run `npm run build`, which copies it into dist/",
      { cause: error },
    );
  }
}

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
 * The codec for `pipecat.Frame`, built from `frames.proto` on first use (reading and parsing the
 * schema and generating protobufjs' encoder and decoder takes milliseconds, paid once per
 * process, on first use rather than at import).
 * @internal
 */
export function frameCodec(): FrameCodec {
  if (codec) return codec;
  // Loaded on first use, not at import: protobufjs takes tens of milliseconds to load, which every
  // `import "voicepipe"` would pay whether or not it speaks this format.
  const protobuf = createRequire(import.meta.url)("protobufjs") as typeof ProtobufJs;
  const root = protobuf.parse(readProtoFile(FRAMES_PROTO_URL), { keepCase: true }).root;
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
