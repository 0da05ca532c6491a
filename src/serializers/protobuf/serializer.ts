import { int16ToBytes, bytesToInt16 } from "../../audio/pcm.js";
import { InvalidOptionError } from "../../errors.js";
import { InputAudioRawFrame, OutputAudioRawFrame } from "../../frames/audio.js";
import type { Frame } from "../../frames/frame.js";
import { InterruptionFrame } from "../../frames/lifecycle.js";
import { TextFrame, TranscriptionFrame } from "../../frames/text.js";
import {
  InputTransportMessageFrame,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "../../frames/transport-messages.js";
import {
  type DeserializeErrorReason,
  type DeserializeResult,
  FrameDeserializeError,
  FrameSerializeError,
  type FrameSerializer,
  NO_FRAMES,
} from "../frame-serializer.js";
import { DEFAULT_MAX_JSON_DEPTH, parseJsonMessage } from "../json-message.js";
import { isoFromRunningTime, runningTimeFromIso } from "../wall-clock.js";
import { wireText } from "../../wire-values.js";
import {
  type FrameCodec,
  type WireAudioRawFrame,
  type WireFrame,
  type WireTranscriptionFrame,
  frameCodec,
  uint64ToNumber,
} from "./schema.js";

/**
 * 256 KiB: 8 s of 16 kHz mono audio in one message (the web client sends 32 ms), or a large RTVI
 * message. A JSON message can cost V8 up to about 30 times its size to parse, so the limit is
 * also what bounds that.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 262_144;

/** Key under which a received audio frame's `pts` is kept in `frame.metadata`, in ms of the sender's clock. */
export const CLIENT_PTS_METADATA_KEY = "clientPtsMs";

/** Options of {@link ProtobufFrameSerializer}. */
export interface ProtobufFrameSerializerOptions {
  /**
   * Longest message accepted, in bytes; longer ones are refused before any decoding, so nothing
   * is allocated for them. Give the WebSocket server the same limit (ws: `maxPayload`).
   * @default 262_144 (256 KiB)
   */
  maxMessageBytes?: number;
  /**
   * Write `InterruptionFrame` as the `interruption` frame. Only for clients that said they
   * understand it: clients built on an older schema fail on every one (the official web client
   * before the frame existed throws "Unknown frame kind"). Can be changed at any time through
   * {@link ProtobufFrameSerializer.sendInterruptions}, e.g. once the client has introduced itself.
   * @default false
   */
  sendInterruptions?: boolean;
  /**
   * Write each frame's `id` and `name` (e.g. `OutputAudioRawFrame#12`), as Pipecat does. Off, the
   * messages are the smallest the schema allows (about 28 bytes less per audio frame).
   * @default true
   */
  sendFrameIds?: boolean;
  /**
   * Unix time in ms at which the pipeline clock read 0 (see `wallClockOrigin(clock)`). Transcription
   * timestamps are running time in voicepipe and ISO-8601 wall-clock text on the wire; this is the
   * offset between the two, both ways.
   * @default 0 (timestamps then read as running time after 1970-01-01T00:00:00Z)
   */
  wallClockOriginMs?: number;
  /** Lowest sample rate accepted in received audio, Hz. @default 8000 */
  minInputSampleRate?: number;
  /** Highest sample rate accepted in received audio, Hz. @default 48000 */
  maxInputSampleRate?: number;
  /** Most channels accepted in received audio. @default 2 */
  maxInputChannels?: number;
  /** Deepest nesting accepted in a received JSON message. @default 128 */
  maxJsonDepth?: number;
}

/**
 * Pipecat's protobuf wire format (`frames.proto`), the one the official Pipecat web client's
 * WebSocket transport speaks. One binary WebSocket message per frame. Encoding and decoding are
 * done by protobufjs from the schema; this class only maps frames (docs/design/serializers.md).
 *
 * Written (server → client):
 * - `OutputAudioRawFrame` and its subclasses (`TTSAudioRawFrame`) → `audio`, PCM16 LE, with `pts`
 *   in ns when the frame has one. Empty audio is not written.
 * - `TextFrame` (that class only, as in Pipecat; LLM and TTS text reach the client as RTVI
 *   messages) → `text`.
 * - `TranscriptionFrame` → `transcription`, `timestamp` as ISO-8601 text.
 * - `OutputTransportMessageFrame` / `…UrgentFrame` → `message`, `data` = the message as JSON.
 * - `InterruptionFrame` → `interruption`, only with {@link sendInterruptions}.
 * - Everything else (including `InterimTranscriptionFrame`, which the schema cannot mark as
 *   interim, and input audio) → nothing.
 *
 * Read (client → server): `audio` → `InputAudioRawFrame`, `text` → `TextFrame`, `transcription` →
 * `TranscriptionFrame`, `message` → `InputTransportMessageFrame` (data parsed as JSON),
 * `interruption` → `InterruptionFrame`. The sender's `id` and `name` are not kept: voicepipe's frame
 * ids are process-unique and assigned here.
 *
 * Guarantees: {@link deserialize} never throws; it refuses a message longer than
 * `maxMessageBytes` before decoding it; a frame it returns holds fresh memory no larger than the
 * message (audio is copied out of the message, never a view that would pin the socket's buffer),
 * except a JSON message's parsed value (see `parseJsonMessage`).
 *
 * @example
 * const serializer = new ProtobufFrameSerializer({ wallClockOriginMs: wallClockOrigin(clock) });
 * socket.on("message", (data: Buffer, isBinary: boolean) => {
 *   const result = serializer.deserialize(isBinary ? data : data.toString("utf8"));
 *   if (result.ok) for (const frame of result.frames) push(frame);
 *   else countAndLogOnce(result.error);
 * });
 */
export class ProtobufFrameSerializer implements FrameSerializer {
  readonly name = "protobuf";
  readonly binary = true;
  readonly maxMessageBytes: number;
  /** Whether `InterruptionFrame`s are written (see {@link ProtobufFrameSerializerOptions.sendInterruptions}). */
  sendInterruptions: boolean;
  readonly #sendFrameIds: boolean;
  readonly #wallClockOriginMs: number;
  readonly #minRate: number;
  readonly #maxRate: number;
  readonly #maxChannels: number;
  readonly #maxJsonDepth: number;
  readonly #codec: FrameCodec = frameCodec();

  constructor(options: ProtobufFrameSerializerOptions = {}) {
    this.maxMessageBytes = positiveInteger(options, "maxMessageBytes", DEFAULT_MAX_MESSAGE_BYTES);
    this.sendInterruptions = options.sendInterruptions ?? false;
    this.#sendFrameIds = options.sendFrameIds ?? true;
    const origin = options.wallClockOriginMs ?? 0;
    if (typeof origin !== "number" || !Number.isFinite(origin)) {
      throw new InvalidOptionError(
        `ProtobufFrameSerializer: wallClockOriginMs must be a finite Unix time in ms (got ${String(origin)}); use wallClockOrigin(clock)`,
      );
    }
    this.#wallClockOriginMs = origin;
    this.#minRate = positiveInteger(options, "minInputSampleRate", 8000);
    this.#maxRate = positiveInteger(options, "maxInputSampleRate", 48000);
    if (this.#minRate > this.#maxRate) {
      throw new InvalidOptionError(
        `ProtobufFrameSerializer: minInputSampleRate (${this.#minRate} Hz) is above maxInputSampleRate (${this.#maxRate} Hz)`,
      );
    }
    this.#maxChannels = positiveInteger(options, "maxInputChannels", 2);
    this.#maxJsonDepth = positiveInteger(options, "maxJsonDepth", DEFAULT_MAX_JSON_DEPTH);
  }

  serialize(frame: Frame): Uint8Array | undefined {
    const wire = this.#toWire(frame);
    return wire && this.#codec.encode(wire);
  }

  deserialize(data: Uint8Array | string): DeserializeResult {
    // Whatever a socket library hands over: an ArrayBuffer is the same bytes; anything else
    // (null, a number) is refused in words, never thrown on.
    if (data instanceof ArrayBuffer) data = new Uint8Array(data);
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return this.#refuse("malformed", `not a message: expected bytes or text (got ${wireText(data)})`, 0);
    }
    const length = typeof data === "string" ? data.length : data.byteLength;
    if (length > this.maxMessageBytes) {
      return this.#refuse(
        "oversized",
        `longer than maxMessageBytes (${this.maxMessageBytes}); nothing was decoded`,
        length,
      );
    }
    if (typeof data === "string") {
      return this.#refuse(
        "unknown-type",
        "a text message; this serializer reads binary messages, each one protobuf pipecat.Frame",
        length,
      );
    }
    let wire: WireFrame;
    try {
      wire = this.#codec.decode(data);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return this.#refuse("malformed", `not a protobuf pipecat.Frame (${why})`, length, error);
    }
    try {
      return this.#fromWire(wire, data);
    } catch (error) {
      // Frame constructors re-check what #fromWire checked; reaching here is a bug, still not a throw.
      const why = error instanceof Error ? error.message : String(error);
      return this.#refuse("invalid", why, length, error);
    }
  }

  #toWire(frame: Frame): WireFrame | undefined {
    if (frame instanceof OutputAudioRawFrame) {
      if (frame.audio.length === 0) return undefined;
      const audio: WireAudioRawFrame = {
        id: this.#id(frame),
        name: this.#name(frame),
        audio: int16ToBytes(frame.audio),
        sample_rate: frame.sampleRate,
        num_channels: frame.numChannels,
      };
      const pts = frame.pts;
      // uint64 on the wire: a pts before the clock's start (negative) has no wire form.
      if (pts !== undefined && Number.isFinite(pts) && pts >= 0) audio.pts = Math.round(pts * 1_000_000);
      return { audio };
    }
    if (frame instanceof OutputTransportMessageFrame || frame instanceof OutputTransportMessageUrgentFrame) {
      return { message: { data: messageJson(frame) } };
    }
    if (frame instanceof InterruptionFrame) {
      return this.sendInterruptions
        ? { interruption: { id: this.#id(frame), name: this.#name(frame) } }
        : undefined;
    }
    if (frame.constructor === TranscriptionFrame) {
      const t = frame as TranscriptionFrame;
      return {
        transcription: {
          id: this.#id(frame),
          name: this.#name(frame),
          text: wellFormed(t.text),
          user_id: wellFormed(t.userId),
          timestamp: this.#isoTimestamp(t),
        },
      };
    }
    if (frame.constructor === TextFrame)
      return {
        text: { id: this.#id(frame), name: this.#name(frame), text: wellFormed((frame as TextFrame).text) },
      };
    return undefined;
  }

  // Explicit fields, undefined when off (protobufjs skips them), never an object spread: a spread
  // made encoding an audio frame four times slower (bench/serializer.ts).
  #id(frame: Frame): number | undefined {
    return this.#sendFrameIds ? frame.id : undefined;
  }

  #name(frame: Frame): string | undefined {
    return this.#sendFrameIds ? frame.name : undefined;
  }

  #isoTimestamp(frame: TranscriptionFrame): string {
    const unixMs = this.#wallClockOriginMs + frame.timestampMs;
    // Date holds ±8.64e15 ms; past that (or NaN) there is no ISO text to write.
    if (!Number.isFinite(unixMs) || Math.abs(unixMs) > 8.64e15) {
      throw new FrameSerializeError(
        `${frame.name}: timestampMs ${frame.timestampMs} (+ wallClockOriginMs ${this.#wallClockOriginMs}) is not a time ISO-8601 can hold; ` +
          "timestampMs must be ms of pipeline running time",
      );
    }
    return isoFromRunningTime(frame.timestampMs, this.#wallClockOriginMs);
  }

  #fromWire(wire: WireFrame, data: Uint8Array): DeserializeResult {
    switch (wire.frame) {
      case "audio":
        return this.#audioFromWire(wire.audio ?? {}, data.byteLength);
      case "text":
        return frames(new TextFrame(wire.text?.text ?? ""));
      case "transcription":
        return this.#transcriptionFromWire(wire.transcription ?? {}, data.byteLength);
      case "message": {
        const parsed = parseJsonMessage(wire.message?.data ?? "", this.#maxJsonDepth);
        if (!parsed.ok) return this.#refuse("malformed", `message.data is ${parsed.detail}`, data.byteLength);
        return frames(new InputTransportMessageFrame(parsed.value));
      }
      case "interruption":
        return frames(new InterruptionFrame());
      default: {
        // A known field with the wrong wire type is skipped as unknown (as protobuf parsers do), so it lands here too.
        const tag = data.byteLength === 0 ? undefined : this.#codec.firstTag(data);
        return this.#refuse(
          "unknown-type",
          (data.byteLength === 0
            ? "an empty message holds no frame"
            : `no frame kind this serializer knows (first field ${tag ? `${tag.field}, wire type ${tag.wireType}` : "unreadable"})`) +
            "; expected one of text (1), audio (2), transcription (3), message (4), interruption (5)",
          data.byteLength,
        );
      }
    }
  }

  #audioFromWire(audio: WireAudioRawFrame, length: number): DeserializeResult {
    const rate = audio.sample_rate ?? 0;
    const channels = audio.num_channels ?? 0;
    // Unset, bytes read as protobufjs' default, which is not a Uint8Array.
    const bytes = audio.audio instanceof Uint8Array ? audio.audio : undefined;
    if (rate < this.#minRate || rate > this.#maxRate) {
      return this.#refuse(
        "invalid",
        `audio.sample_rate ${rate} Hz is outside ${this.#minRate}…${this.#maxRate} Hz` +
          (rate === 0 ? " (missing)" : "") +
          "; send 16-bit PCM at a real sample rate, or widen minInputSampleRate/maxInputSampleRate",
        length,
      );
    }
    if (channels < 1 || channels > this.#maxChannels) {
      return this.#refuse(
        "invalid",
        `audio.num_channels ${channels} is outside 1…${this.#maxChannels}` +
          (channels === 0 ? " (missing)" : "") +
          "; send mono or interleaved stereo, or raise maxInputChannels",
        length,
      );
    }
    if (bytes === undefined || bytes.byteLength === 0) return NO_FRAMES;
    if (bytes.byteLength % (2 * channels) !== 0) {
      return this.#refuse(
        "invalid",
        `audio has ${bytes.byteLength} bytes, not a whole number of ${channels}-channel 16-bit samples ` +
          `(a multiple of ${2 * channels}); a sample was split or the audio is not PCM16`,
        length,
      );
    }
    // A copy: a fresh, aligned buffer the size of the audio, which does not pin the message's buffer.
    const frame = new InputAudioRawFrame(bytesToInt16(new Uint8Array(bytes)), rate, channels);
    // Presence, not value: an unset pts reads as protobufjs' default (a zero Long), not undefined.
    if (Object.hasOwn(audio, "pts") && audio.pts != null) {
      frame.metadata[CLIENT_PTS_METADATA_KEY] = uint64ToNumber(audio.pts) / 1_000_000;
    }
    return frames(frame);
  }

  #transcriptionFromWire(t: WireTranscriptionFrame, length: number): DeserializeResult {
    const timestamp = t.timestamp ?? "";
    const timestampMs = runningTimeFromIso(timestamp, this.#wallClockOriginMs);
    if (timestampMs === undefined) {
      return this.#refuse(
        "invalid",
        `transcription.timestamp ${timestamp === "" ? "is missing" : `"${timestamp.slice(0, 40)}" is not ISO-8601 with a time zone`}; ` +
          'send e.g. "2026-01-01T00:00:00.000Z"',
        length,
      );
    }
    return frames(new TranscriptionFrame(t.text ?? "", t.user_id ?? "", timestampMs));
  }

  #refuse(
    reason: DeserializeErrorReason,
    detail: string,
    length: number,
    cause?: unknown,
  ): DeserializeResult {
    return {
      ok: false,
      error: new FrameDeserializeError(
        this.name,
        reason,
        detail,
        length,
        cause === undefined ? undefined : { cause },
      ),
    };
  }
}

function frames(frame: Frame): DeserializeResult {
  return { ok: true, frames: [frame] };
}

/**
 * `text` with unpaired surrogates replaced by U+FFFD. protobufjs writes an unpaired surrogate as
 * bytes that are not UTF-8, and strict peers (Pipecat's Python protobuf, voicepipe itself) then
 * refuse the whole message; a TTS or LLM chunk boundary can split an emoji's surrogate pair.
 * (JSON needs nothing: `JSON.stringify` escapes unpaired surrogates as `\uXXXX`.)
 */
function wellFormed(text: string): string {
  // String.prototype.toWellFormed is in Node >= 20 (V8 11.3) but not in the ES2023 typings.
  return (text as unknown as { toWellFormed(): string }).toWellFormed();
}

function messageJson(frame: OutputTransportMessageFrame | OutputTransportMessageUrgentFrame): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(frame.message);
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ");
    throw new FrameSerializeError(
      `${frame.name}: the message cannot be written as JSON (${why}); ` +
        "send plain data (no cycles, no BigInt)",
      { cause: error },
    );
  }
  if (json === undefined) {
    throw new FrameSerializeError(
      `${frame.name}: the message is ${typeof frame.message}, which has no JSON form; send an object, array, string, number or boolean`,
    );
  }
  return json;
}

function positiveInteger<K extends keyof ProtobufFrameSerializerOptions>(
  options: ProtobufFrameSerializerOptions,
  key: K,
  fallback: number,
): number {
  const value = options[key] ?? fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(
      `ProtobufFrameSerializer: ${key} must be a positive whole number (got ${String(value)}); leave it out for ${fallback}`,
    );
  }
  return value;
}
