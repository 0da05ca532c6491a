import { VoicepipeError, describe } from "../errors.js";
import type { Frame } from "../frames/frame.js";

/**
 * Why a message was refused (docs/design/serializers.md). A transport counts refusals by reason
 * and logs the first of each, so a client that sends the same bad message a thousand times
 * produces one log line and a counter, never a thousand lines.
 *
 * - `oversized`: longer than the serializer's `maxMessageBytes`; refused before decoding.
 * - `malformed`: not a message of this format (truncated protobuf, a wrong wire type, invalid
 *   UTF-8, invalid or too deeply nested JSON).
 * - `unknown-type`: well formed, but of a kind this serializer does not read (a frame kind added
 *   by a newer peer, a text message sent to a binary format).
 * - `invalid`: the right kind, with a value voicepipe cannot use (a sample rate out of range,
 *   audio that is not whole 16-bit samples, a timestamp that is not ISO-8601).
 */
export type DeserializeErrorReason = "oversized" | "malformed" | "unknown-type" | "invalid";

/**
 * A message from a client could not be turned into frames. Returned, never thrown, by
 * {@link FrameSerializer.deserialize}: a bad message is dropped, and the session goes on.
 */
export class FrameDeserializeError extends VoicepipeError {
  readonly code = "VP_DESERIALIZE";
  constructor(
    /** The serializer that refused it (its {@link FrameSerializer.name}). */
    readonly serializer: string,
    readonly reason: DeserializeErrorReason,
    /** What was wrong and what to do about it; `message` prefixes the serializer's name. */
    readonly detail: string,
    /** The message's length in bytes (UTF-16 code units for a string). */
    readonly byteLength: number,
    options?: { cause?: unknown },
  ) {
    super(`${serializer} serializer: ${reason} message (${byteLength} bytes): ${detail}`, options);
  }
}

/**
 * A frame that has a wire form could not be written, e.g. a transport message whose content is
 * not JSON. Thrown by {@link FrameSerializer.serialize}: it is a bug in the application that made
 * the frame, reported where the frame is written, with the frame named.
 */
export class FrameSerializeError extends VoicepipeError {
  readonly code = "VP_SERIALIZE";
}

/** One WebSocket message: binary (`Uint8Array`) or text (`string`). */
export type SerializedMessage = Uint8Array | string;

/** What {@link FrameSerializer.deserialize} made of one message. */
export type DeserializeResult =
  | {
      readonly ok: true;
      /** The frames the message carried: usually one; none for a message that only informs the serializer. */
      readonly frames: readonly Frame[];
    }
  | { readonly ok: false; readonly error: FrameDeserializeError };

/** What a serializer learns when the pipeline starts (the `StartFrame`'s audio settings). */
export interface SerializerSetup {
  /** Sample rate of the pipeline's input audio, in Hz. */
  readonly audioInSampleRate: number;
  /** Sample rate of the pipeline's output audio, in Hz. */
  readonly audioOutSampleRate: number;
}

/**
 * Turns frames into network messages and network messages into frames, for one connection.
 * The WebSocket transport owns the socket and calls these verbs; a serializer does no I/O, keeps
 * no timers and holds no state that grows with the session.
 *
 * Contract:
 * - {@link deserialize} never throws. It checks the message's size before decoding anything,
 *   and returns either the frames or a {@link FrameDeserializeError} saying what was wrong.
 * - {@link serialize} returns `undefined` for a frame that has no wire form (most frames), and
 *   throws {@link FrameSerializeError} only for a frame that has one but cannot be written.
 * - One serializer per connection: a serializer may hold per-connection state (a telephony
 *   stream id, a resampler), so never share one between two sockets.
 */
export interface FrameSerializer {
  /** Short name for logs and errors, e.g. `"protobuf"`. */
  readonly name: string;
  /** Whether messages travel as binary WebSocket messages (`true`) or text (`false`). */
  readonly binary: boolean;
  /** The longest message {@link deserialize} accepts, in bytes. A transport should not buffer longer ones (ws: `maxPayload`). */
  readonly maxMessageBytes: number;
  /**
   * Called once by the transport when the pipeline starts, before the first message either way;
   * for serializers that need the pipeline's sample rates (telephony resampling).
   */
  setup?(setup: SerializerSetup): Promise<void> | void;
  /**
   * The message for `frame`, or `undefined` when the frame has no wire form in this format. A
   * serializer that cuts audio into the provider's message size may return several messages (or
   * none, holding a partial one): the transport sends them in order.
   */
  serialize(frame: Frame): SerializedMessage | readonly SerializedMessage[] | undefined;
  /** The frames in one received message, or why there are none. Never throws. */
  deserialize(data: Uint8Array | string): DeserializeResult;
  /** Releases what {@link setup} acquired. Idempotent. */
  dispose?(): void;
}

/** A successful {@link DeserializeResult} with no frames (shared: it is immutable). */
export const NO_FRAMES: DeserializeResult = Object.freeze({ ok: true, frames: Object.freeze([]) });

/**
 * `serializer.deserialize(data)`, with a throw turned into a refusal (`invalid`, naming the
 * serializer and what it threw). The contract says `deserialize` never throws, but a transport
 * calls it from a socket's message handler, where a throw ends the process: one message that a
 * serializer (an application's own, or a bug in one of voicepipe's) chokes on must cost that
 * message, not every session of the process.
 */
export function deserializeGuarded(
  serializer: FrameSerializer,
  data: Uint8Array | string,
): DeserializeResult {
  try {
    return serializer.deserialize(data);
  } catch (error) {
    const length = typeof data === "string" ? data.length : data.byteLength;
    const name = typeof serializer.name === "string" ? serializer.name : "a";
    return {
      ok: false,
      error: new FrameDeserializeError(
        name,
        "invalid",
        `the ${name} serializer threw (${describe(error)}) instead of refusing the message; ` +
          "the message was dropped. A deserialize that throws is a bug in that serializer: report it",
        length,
        { cause: error },
      ),
    };
  }
}
