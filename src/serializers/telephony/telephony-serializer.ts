import { AudioConverter } from "../../audio/audio-converter.js";
import { convertChannels } from "../../audio/pcm.js";
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "../../audio/resampler.js";
import { InvalidOptionError, VoicepipeError } from "../../errors.js";
import { InputAudioRawFrame, OutputAudioRawFrame } from "../../frames/audio.js";
import { InputDTMFFrame, OutputDTMFFrame, isDTMFKey } from "../../frames/dtmf.js";
import { ErrorFrame } from "../../frames/error.js";
import type { Frame } from "../../frames/frame.js";
import { EndTaskFrame, InterruptionFrame } from "../../frames/lifecycle.js";
import { BotStoppedSpeakingFrame } from "../../frames/speaking.js";
import {
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "../../frames/transport-messages.js";
import { TTSStoppedFrame } from "../../frames/tts.js";
import {
  type DeserializeErrorReason,
  type DeserializeResult,
  FrameDeserializeError,
  FrameSerializeError,
  type FrameSerializer,
  NO_FRAMES,
  type SerializedMessage,
  type SerializerSetup,
} from "../frame-serializer.js";
import { parseJsonMessage } from "../json-message.js";
import { givenText, wireText } from "../../wire-values.js";
import { type PacketRule, Packetizer } from "./packetizer.js";
import {
  type WireEncoding,
  type WireFormat,
  bytesPerSample,
  decodeBase64,
  decodeWireAudio,
  encodeWireAudio,
  silenceByte,
} from "./wire-audio.js";

/** The telephony providers voicepipe speaks to. */
export type TelephonyProvider = "twilio" | "telnyx" | "plivo" | "exotel" | "vonage";

/** One phone call, as the provider's `start` message (or first message) describes it. */
export interface TelephonyCall {
  readonly provider: TelephonyProvider;
  /**
   * The provider's id of the call, which its REST API takes to hang up or transfer (Twilio
   * `callSid`, Telnyx `call_control_id`, Plivo `callId`, Exotel `call_sid`, Vonage the call's
   * `uuid`); empty when the stream did not say.
   */
  readonly callId: string;
  /** The id of the media stream (Twilio `streamSid`, …); empty when the stream has none. */
  readonly streamId: string;
  /** The caller's number, when the stream says. */
  readonly from?: string;
  /** The number called, when the stream says. */
  readonly to?: string;
  /** Values the answer document attached to the stream (Twilio `<Parameter>`s, Vonage headers, …). */
  readonly customParameters: Readonly<Record<string, string>>;
  /** What the provider sends. */
  readonly inbound: WireFormat;
}

/**
 * The media format a stream declared is not what the serializer was set up for. When voicepipe
 * can decode the declared format the call goes on in it (the error is reported, not fatal);
 * when it cannot (G.722, Opus, MP3), the call ends with this error.
 */
export class TelephonyFormatError extends VoicepipeError {
  readonly code = "VP_TELEPHONY_FORMAT";
}

/** Options every telephony serializer takes. */
export interface TelephonySerializerOptions {
  /**
   * Longest message accepted, in bytes; longer ones are refused before decoding. Give the
   * WebSocket server the same limit. @default 131072 (about 8 s of 8 kHz μ-law in base64)
   */
  maxMessageBytes?: number;
}

/** What a provider's serializer tells the base at construction. */
export interface TelephonyWire {
  /** What the provider is expected to send (the `start` message may say otherwise). */
  readonly inbound: WireFormat;
  /** What voicepipe sends; fixed for the call (the answer document told the provider). */
  readonly outbound: WireFormat;
  /** How outbound audio is cut into messages. */
  readonly packet: PacketRule;
}

/** A JSON object from the wire. */
export type JsonObject = Record<string, unknown>;

/** 128 KiB. */
export const DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES = 131_072;

/**
 * The shared part of every telephony media-stream serializer (docs/design/telephony.md). A
 * provider's serializer implements small verbs; the base owns the rest:
 *
 * - {@link readEvent}: one JSON text message (already parsed, with its `event`). It answers with
 *   the helpers {@link started}, {@link media}, {@link dtmf}, {@link streamStopped}, {@link ignore} and
 *   {@link refuse}.
 * - {@link readBinary}: a binary message (only Vonage sends audio that way); refused by default.
 * - {@link audioMessage}: the message carrying one packet of encoded outbound audio.
 * - {@link clearMessage}: the message that drops the audio the provider has buffered.
 * - {@link dtmfMessage}: the message that plays keypad tones; by default the stream cannot.
 *
 * The base checks sizes, parses JSON, decodes base64 strictly, decodes the wire encoding (the
 * input transport then resamples to the pipeline's rate), converts outbound audio to the
 * provider's rate with a streaming resampler (state per call, no clicks at chunk edges), encodes
 * it and cuts it into the provider's message size. A bad message is refused in words and never
 * ends the call; the transport logs the first of each reason and counts the rest.
 */
export abstract class TelephonySerializer implements FrameSerializer {
  abstract readonly provider: TelephonyProvider;
  /** Text messages (Vonage also sends binary audio; the transport sends each message as what it is). */
  readonly binary = false;
  readonly maxMessageBytes: number;
  /** What voicepipe sends to the provider. */
  readonly outbound: WireFormat;
  /**
   * Duration of the shortest outbound audio message, in ms: 20 for most providers, 200 for Exotel
   * at 8 kHz (its 3,200-byte minimum). An output whose chunks are this long sends each chunk as one
   * message as soon as it is written; shorter chunks wait in the packetizer until a message is full.
   */
  readonly packetMs: number;
  /** Outbound audio refused because it came before the stream's `start` (the stream id was not known). */
  audioBeforeStart = 0;
  #inbound: WireFormat;
  #call: TelephonyCall | undefined;
  #stopped = false;
  readonly #packetizer: Packetizer;
  #converter: AudioConverter | undefined;
  #disposed = false;

  constructor(wire: TelephonyWire, options: TelephonySerializerOptions = {}) {
    const max = options.maxMessageBytes ?? DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1024) {
      throw new InvalidOptionError(
        `telephony serializer: maxMessageBytes must be a whole number ≥ 1024 (got ${givenText(options.maxMessageBytes)}); leave it out for ${DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES}`,
      );
    }
    this.maxMessageBytes = max;
    this.#inbound = wire.inbound;
    this.outbound = wire.outbound;
    this.packetMs =
      (wire.packet.packetBytes / bytesPerSample(wire.outbound.encoding) / wire.outbound.sampleRate) * 1000;
    this.#packetizer = new Packetizer(wire.packet, silenceByte(wire.outbound.encoding));
  }

  get name(): string {
    return this.provider;
  }

  /** The call, once the stream's `start` (or first message) has said what it is. */
  get call(): TelephonyCall | undefined {
    return this.#call;
  }

  /** What the provider sends (the `start` message's format once it has come). */
  get inbound(): WireFormat {
    return this.#inbound;
  }

  /** The provider said the stream ended (`stop`). */
  get stopped(): boolean {
    return this.#stopped;
  }

  async setup(setup: SerializerSetup): Promise<void> {
    if (setup.audioOutSampleRate === this.outbound.sampleRate || this.#disposed) return;
    this.#converter = new AudioConverter({ outRate: this.outbound.sampleRate });
    await this.#converter.prepare(setup.audioOutSampleRate, 1);
  }

  dispose(): void {
    this.#disposed = true;
    this.#converter?.dispose();
    this.#packetizer.clear();
  }

  serialize(frame: Frame): SerializedMessage | SerializedMessage[] | undefined {
    if (frame instanceof OutputAudioRawFrame) return this.#writeAudio(frame);
    if (frame instanceof InterruptionFrame) {
      this.#packetizer.clear();
      return this.#call ? this.clearMessage() : undefined;
    }
    if (frame instanceof TTSStoppedFrame || frame instanceof BotStoppedSpeakingFrame) {
      // The end of an answer: its last partial packet goes now (padded with silence), not at
      // the start of the next one.
      const tail = this.#packetizer.flush();
      return tail && this.#call ? this.audioMessage(tail) : undefined;
    }
    if (frame instanceof OutputDTMFFrame) {
      if (!this.#call)
        throw new FrameSerializeError(`${this.provider}: DTMF cannot be sent before the stream started`);
      return this.dtmfMessage(frame.keys.join(""));
    }
    if (frame instanceof OutputTransportMessageFrame || frame instanceof OutputTransportMessageUrgentFrame) {
      return this.transportMessage(frame.message);
    }
    return undefined;
  }

  deserialize(data: Uint8Array | string): DeserializeResult {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return this.refuse("malformed", `not a message: expected text or bytes (got ${wireText(data)})`, 0);
    }
    const bytes = typeof data === "string" ? data.length : data.byteLength;
    if (bytes > this.maxMessageBytes) {
      return this.refuse(
        "oversized",
        `longer than maxMessageBytes (${this.maxMessageBytes}); refused unread (raise maxMessageBytes if the provider is right to send that much)`,
        bytes,
      );
    }
    if (typeof data !== "string") return this.readBinary(data);
    const parsed = parseJsonMessage(data, 16);
    if (!parsed.ok) return this.refuse("malformed", parsed.detail, bytes);
    const message = parsed.value;
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      return this.refuse("malformed", "not a JSON object", bytes);
    }
    const event = (message as JsonObject).event;
    if (typeof event !== "string") {
      return this.refuse("malformed", 'no "event" field naming what the message is', bytes);
    }
    return this.readEvent(event, message as JsonObject, bytes);
  }

  // ---------------------------------------------------------------- verbs for subclasses

  /** One JSON text message whose `event` is `event`. */
  protected abstract readEvent(event: string, message: JsonObject, bytes: number): DeserializeResult;

  /** A binary message. The default refuses it: the provider sends text only. */
  protected readBinary(data: Uint8Array): DeserializeResult {
    return this.refuse(
      "unknown-type",
      `${this.provider} media streams send text (JSON) messages only; a binary one is not part of the protocol`,
      data.byteLength,
    );
  }

  /** The message carrying one packet of outbound audio, already encoded in {@link outbound}. */
  protected abstract audioMessage(packet: Uint8Array): SerializedMessage;

  /** The message that makes the provider drop the audio it has buffered (an interruption). */
  protected abstract clearMessage(): SerializedMessage | undefined;

  /** The message that plays `keys` (keypad keys) to the caller. The default: the stream cannot. */
  protected dtmfMessage(_keys: string): SerializedMessage {
    throw new FrameSerializeError(
      `${this.provider}: its media stream cannot send DTMF tones; use the provider's call API (see docs/design/telephony.md)`,
    );
  }

  /**
   * What the user should change when the stream's declared format is not `expected`, ending the
   * error the start reports (e.g. Plivo: which `contentType` to set on `<Stream>`). The default
   * (undefined) says to set the format in the provider's answer document.
   */
  protected formatAdvice(_expected: WireFormat): string | undefined {
    return undefined;
  }

  /**
   * An application's transport message, sent as JSON text as it is (an app can send a provider
   * message the serializer does not write itself, such as a `mark`). RTVI messages are for
   * browser clients and are not sent.
   */
  protected transportMessage(message: unknown): SerializedMessage | undefined {
    if (typeof message === "object" && message !== null && (message as JsonObject).label === "rtvi-ai") {
      return undefined;
    }
    try {
      const text = JSON.stringify(message);
      if (typeof text !== "string") throw new Error("it has no JSON form");
      return text;
    } catch (error) {
      throw new FrameSerializeError(
        `${this.provider}: a transport message is not JSON (${error instanceof Error ? error.message : String(error)})`,
        { cause: error },
      );
    }
  }

  // ---------------------------------------------------------------- helpers for subclasses

  /**
   * The stream started. `declared` is the format the start message names: a {@link WireFormat}
   * voicepipe can decode, or the provider's name of one it cannot (`"G722"`). A format other than
   * the expected one is adopted and reported; one voicepipe cannot decode ends the call. A second
   * start is refused.
   */
  protected started(
    call: Omit<TelephonyCall, "provider" | "inbound">,
    declared: WireFormat | string | undefined,
    bytes: number,
  ): DeserializeResult {
    if (this.#call) return this.refuse("invalid", "a second start message in one stream; ignored", bytes);
    if (typeof declared === "object" && !resamplable(declared.sampleRate)) {
      // The input transport resamples the stream to the pipeline's rate: a rate its resampler
      // refuses would fail later, as a transport option the application never set.
      declared = `${describeEncoding(declared.encoding)} at ${declared.sampleRate} Hz`;
    }
    const expected = this.#inbound;
    const frames: Frame[] = [];
    if (typeof declared === "string") {
      frames.push(
        new ErrorFrame(
          new TelephonyFormatError(
            `${this.provider}: the stream's media format is ${declared}, which voicepipe cannot decode; ` +
              (this.formatAdvice(expected) ??
                `set the stream to ${describeFormat(expected)} in the provider's answer document or call settings`),
          ),
          { fatal: true, processor: this.provider },
        ),
      );
    } else if (declared) {
      if (declared.encoding !== expected.encoding || declared.sampleRate !== expected.sampleRate) {
        frames.push(
          new ErrorFrame(
            new TelephonyFormatError(
              `${this.provider}: the stream sends ${describeFormat(declared)}, not the expected ${describeFormat(expected)}; ` +
                `voicepipe decodes what the stream declared, but ${this.formatAdvice(expected) ?? `check the answer document (it asked for ${describeFormat(expected)})`}`,
            ),
            { processor: this.provider },
          ),
        );
      }
      this.#inbound = declared;
    }
    this.#call = Object.freeze({ ...call, provider: this.provider, inbound: this.#inbound });
    return { ok: true, frames };
  }

  /** A `media` message's base64 payload, decoded to audio at the stream's rate. */
  protected media(payload: unknown, bytes: number): DeserializeResult {
    if (typeof payload !== "string") {
      return this.refuse("malformed", "a media message without a base64 string media.payload", bytes);
    }
    const raw = decodeBase64(payload);
    if (!raw) return this.refuse("invalid", "media.payload is not valid base64", bytes);
    return this.audio(raw, bytes);
  }

  /** Raw audio bytes in the stream's inbound format. */
  protected audio(raw: Uint8Array, bytes: number): DeserializeResult {
    if (raw.byteLength === 0) return NO_FRAMES;
    const decoded = decodeWireAudio(raw, this.#inbound.encoding);
    if (!decoded.ok) {
      return this.refuse(
        "invalid",
        `${decoded.detail}; is the stream's format really ${describeFormat(this.#inbound)}?`,
        bytes,
      );
    }
    return { ok: true, frames: [new InputAudioRawFrame(decoded.samples, this.#inbound.sampleRate, 1)] };
  }

  /** A keypad key the caller pressed. */
  protected dtmf(digit: unknown, bytes: number): DeserializeResult {
    if (!isDTMFKey(digit)) {
      return this.refuse(
        "invalid",
        `a DTMF message whose digit is not a keypad key (0-9, *, #): ${JSON.stringify(digit)}`,
        bytes,
      );
    }
    return { ok: true, frames: [new InputDTMFFrame(digit)] };
  }

  /** The provider ended the stream: the task ends by its normal end path (once). */
  protected streamStopped(reason: string): DeserializeResult {
    if (this.#stopped) return NO_FRAMES;
    this.#stopped = true;
    return { ok: true, frames: [new EndTaskFrame(`${this.provider}: ${reason}`)] };
  }

  /** A message that needs nothing done (`connected`, a `mark` echo). */
  protected ignore(): DeserializeResult {
    return NO_FRAMES;
  }

  /** A message refused, in words: what was wrong and what to do. */
  protected refuse(
    reason: DeserializeErrorReason,
    detail: string,
    bytes: number,
    cause?: unknown,
  ): DeserializeResult {
    return { ok: false, error: new FrameDeserializeError(this.provider, reason, detail, bytes, { cause }) };
  }

  /** A message whose event this provider does not send (or voicepipe does not read). */
  protected unknownEvent(event: string, bytes: number): DeserializeResult {
    return this.refuse("unknown-type", `unknown event ${JSON.stringify(event.slice(0, 40))}; ignored`, bytes);
  }

  // ---------------------------------------------------------------- internals

  #writeAudio(frame: OutputAudioRawFrame): SerializedMessage[] | undefined {
    if (frame.audio.length === 0) return undefined;
    if (!this.#call) {
      this.audioBeforeStart++;
      return undefined;
    }
    let samples = frame.numChannels === 1 ? frame.audio : convertChannels(frame.audio, frame.numChannels, 1);
    if (frame.sampleRate !== this.outbound.sampleRate) {
      const converter = this.#converter;
      if (!converter || !converter.accepts(frame.sampleRate, 1)) {
        throw new FrameSerializeError(
          `${this.provider}: output audio at ${frame.sampleRate} Hz, but the serializer was set up for ${converter?.inRate ?? this.outbound.sampleRate} Hz; ` +
            `set the transport's audioOutSampleRate to ${this.outbound.sampleRate}`,
        );
      }
      samples = converter.convert(samples, frame.sampleRate, 1);
    }
    const packets = this.#packetizer.push(encodeWireAudio(samples, this.outbound.encoding));
    return packets.length === 0 ? undefined : packets.map((p) => this.audioMessage(p));
  }
}

/** "8 kHz μ-law" and the like. */
export function describeFormat(format: WireFormat): string {
  return `${format.sampleRate / 1000} kHz ${describeEncoding(format.encoding)}`;
}

function describeEncoding(encoding: WireEncoding): string {
  const names: Record<WireEncoding, string> = { mulaw: "μ-law", alaw: "A-law", l16: "16-bit PCM (L16)" };
  return names[encoding];
}

/** A rate the streaming resampler takes (1 kHz … 768 kHz, whole Hz). */
function resamplable(rate: number): boolean {
  return Number.isInteger(rate) && rate >= MIN_SAMPLE_RATE && rate <= MAX_SAMPLE_RATE;
}

/** `value` when it is a non-empty string, else undefined. */
export function text(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

// Kept importable from here: the telephony serializers were their first users.
export { wireNumber, wireText } from "../../wire-values.js";

/** `value` when it is a JSON object, else an empty one. */
export function object(value: unknown): JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
}

/**
 * The string values of a JSON object (custom parameters); other values are left out. Built with
 * `Object.fromEntries`, so a parameter named `__proto__` is a parameter like any other (an
 * assignment would have tried to set the record's prototype and dropped it).
 */
export function stringRecord(value: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(object(value)).filter(([, v]) => typeof v === "string")) as Record<
    string,
    string
  >;
}
