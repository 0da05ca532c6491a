/**
 * Plivo audio streams, against message fixtures written from Plivo's "Stream Event Protocol"
 * and `<Stream>` element pages (docs/design/telephony.md): start first (no `connected`),
 * media in each content type, DTMF, checkpoints, clearedAudio, a tolerated `stop`,
 * `extra_headers`, the format check at start, and every outbound message.
 */
import { describe, expect, it } from "vitest";
import { encodeUlaw } from "../../src/audio/g711.js";
import { InvalidOptionError } from "../../src/errors.js";
import { InputAudioRawFrame, OutputAudioRawFrame } from "../../src/frames/audio.js";
import { InputDTMFFrame, OutputDTMFFrame } from "../../src/frames/dtmf.js";
import { ErrorFrame } from "../../src/frames/error.js";
import type { Frame } from "../../src/frames/frame.js";
import { EndTaskFrame, InterruptionFrame } from "../../src/frames/lifecycle.js";
import { OutputTransportMessageFrame } from "../../src/frames/transport-messages.js";
import { TTSStoppedFrame } from "../../src/frames/tts.js";
import type { FrameDeserializeError } from "../../src/serializers/frame-serializer.js";
import { FrameSerializeError } from "../../src/serializers/frame-serializer.js";
import {
  MAX_EXTRA_HEADERS_CHARS,
  MAX_EXTRA_HEADERS_PAIRS,
} from "../../src/serializers/telephony/plivo-extra-headers.js";
import {
  PLIVO_CONTENT_TYPES,
  PlivoFrameSerializer,
  type PlivoFrameSerializerOptions,
} from "../../src/serializers/telephony/plivo.js";
import { TelephonyFormatError } from "../../src/serializers/telephony/telephony-serializer.js";
import { createTelephonySerializer, TELEPHONY_PROVIDERS } from "../../src/telephony/serializers.js";

const CALL_ID = "12345678-1234-1234-1234-123456789abc";
const STREAM_ID = "87654321-4321-4321-4321-cba987654321";

/** Plivo's `start`: the first message of a stream (sequenceNumber 1, numbers not strings). */
function startMessage(
  mediaFormat: unknown = { encoding: "audio/x-mulaw", sampleRate: 8000 },
  extraHeaders: unknown = "userId=12345;sessionId=abcxyz",
): string {
  return JSON.stringify({
    event: "start",
    sequenceNumber: 1,
    start: {
      callId: CALL_ID,
      streamId: STREAM_ID,
      accountId: "MAXXXXXXXXXXXXXXXXXX",
      tracks: ["inbound"],
      mediaFormat,
    },
    extra_headers: extraHeaders,
  });
}

function mediaMessage(payload: Uint8Array, chunk = 1, track = "inbound"): string {
  return JSON.stringify({
    event: "media",
    sequenceNumber: chunk + 1,
    streamId: STREAM_ID,
    media: { track, timestamp: "1700000000000", chunk, payload: Buffer.from(payload).toString("base64") },
    extra_headers: "userId=12345",
  });
}

function frames(serializer: PlivoFrameSerializer, message: string | Uint8Array): readonly Frame[] {
  const result = serializer.deserialize(message);
  if (!result.ok) throw new Error(`refused: ${result.error.message}`);
  return result.frames;
}

function refusal(serializer: PlivoFrameSerializer, message: string | Uint8Array): FrameDeserializeError {
  const result = serializer.deserialize(message);
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result.frames.map((f) => f.name))}`);
  return result.error;
}

/** A serializer whose stream has started, set up for `outRate` output audio. */
async function started(
  options: PlivoFrameSerializerOptions = {},
  mediaFormat?: unknown,
  outRate?: number,
): Promise<PlivoFrameSerializer> {
  const serializer = new PlivoFrameSerializer(options);
  const format = serializer.outbound;
  await serializer.setup({ audioInSampleRate: 16000, audioOutSampleRate: outRate ?? format.sampleRate });
  frames(
    serializer,
    startMessage(
      mediaFormat ?? {
        encoding: format.encoding === "mulaw" ? "audio/x-mulaw" : "audio/x-l16",
        sampleRate: format.sampleRate,
      },
    ),
  );
  return serializer;
}

type PlayAudio = {
  event: string;
  streamId: string;
  media: { contentType: string; sampleRate: number; payload: string };
};

function written(out: ReturnType<PlivoFrameSerializer["serialize"]>): PlayAudio[] {
  if (out === undefined) return [];
  return (Array.isArray(out) ? out : [out]).map((m) => {
    expect(typeof m).toBe("string"); // Plivo reads text frames
    return JSON.parse(m as string) as PlayAudio;
  });
}

const tone = (n: number, rate: number): Int16Array =>
  Int16Array.from({ length: n }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)));

describe("PlivoFrameSerializer: reading the stream", () => {
  it("knows the call from the first message, start (Plivo sends no connected)", () => {
    const serializer = new PlivoFrameSerializer();
    expect(serializer.call).toBeUndefined();
    expect(frames(serializer, startMessage())).toEqual([]);
    expect(serializer.call).toMatchObject({
      provider: "plivo",
      callId: CALL_ID,
      streamId: STREAM_ID,
      inbound: { encoding: "mulaw", sampleRate: 8000 },
    });
    expect({ ...serializer.call!.customParameters }).toEqual({ userId: "12345", sessionId: "abcxyz" });
    expect(serializer.accountId).toBe("MAXXXXXXXXXXXXXXXXXX");
  });

  it("refuses a start without callId or streamId, and a second start", () => {
    const serializer = new PlivoFrameSerializer();
    const noIds = JSON.stringify({ event: "start", sequenceNumber: 1, start: { accountId: "MA1" } });
    expect(refusal(serializer, noIds)).toMatchObject({ reason: "invalid" });
    expect(serializer.call).toBeUndefined();
    frames(serializer, startMessage());
    const second = refusal(serializer, startMessage());
    expect(second.reason).toBe("invalid");
    expect(second.message).toMatch(/second start/);
  });

  it("decodes μ-law media (160 bytes = 20 ms at 8 kHz); sequenceNumber and chunk are numbers", () => {
    const serializer = new PlivoFrameSerializer();
    frames(serializer, startMessage());
    const samples = tone(160, 8000);
    const [frame] = frames(serializer, mediaMessage(encodeUlaw(samples)));
    expect(frame).toBeInstanceOf(InputAudioRawFrame);
    const audio = frame as InputAudioRawFrame;
    expect(audio.sampleRate).toBe(8000);
    expect(audio.audio.length).toBe(160);
    // μ-law keeps about 2 % of full scale near 8000: the decoded tone is close to the original.
    for (let i = 0; i < 160; i++) expect(Math.abs(audio.audio[i]! - samples[i]!)).toBeLessThan(300);
  });

  it.each([
    ["audio/x-l16;rate=8000", 8000],
    ["audio/x-l16;rate=16000", 16000],
  ] as const)("decodes %s media exactly (20 ms = %i samples)", (contentType, rate) => {
    const serializer = new PlivoFrameSerializer({ contentType });
    frames(serializer, startMessage({ encoding: "audio/x-l16", sampleRate: rate }));
    const samples = tone(rate / 50, rate);
    const bytes = new Uint8Array(samples.buffer.slice(0));
    expect(bytes.byteLength).toBe(rate === 8000 ? 320 : 640);
    const [frame] = frames(serializer, mediaMessage(bytes)) as InputAudioRawFrame[];
    expect(frame!.sampleRate).toBe(rate);
    expect(Array.from(frame!.audio)).toEqual(Array.from(samples));
  });

  it("refuses L16 media of an odd byte count, and media whose payload is not base64, without ending anything", () => {
    const serializer = new PlivoFrameSerializer({ contentType: "audio/x-l16;rate=8000" });
    frames(serializer, startMessage({ encoding: "audio/x-l16", sampleRate: 8000 }));
    expect(refusal(serializer, mediaMessage(new Uint8Array(321))).reason).toBe("invalid");
    const bad = JSON.stringify({ event: "media", media: { track: "inbound", payload: "not base64!" } });
    expect(refusal(serializer, bad).reason).toBe("invalid");
    expect(frames(serializer, mediaMessage(new Uint8Array(320)))).toHaveLength(1);
  });

  it("ignores media of another track", () => {
    const serializer = new PlivoFrameSerializer();
    frames(serializer, startMessage());
    expect(frames(serializer, mediaMessage(new Uint8Array(160), 1, "outbound"))).toEqual([]);
  });

  it("turns a dtmf message into an InputDTMFFrame; refuses a digit that is not a keypad key", () => {
    const serializer = new PlivoFrameSerializer();
    frames(serializer, startMessage());
    const dtmf = (digit: string, track = "inbound") =>
      JSON.stringify({
        event: "dtmf",
        sequenceNumber: 7,
        streamId: STREAM_ID,
        dtmf: { track, digit, timestamp: "1700000000000" },
      });
    const [key] = frames(serializer, dtmf("5"));
    expect(key).toBeInstanceOf(InputDTMFFrame);
    expect((key as InputDTMFFrame).button).toBe("5");
    expect((frames(serializer, dtmf("#"))[0] as InputDTMFFrame).button).toBe("#");
    // Plivo's schema lists A–D, which no InputDTMFFrame can carry: refused in words.
    const a = refusal(serializer, dtmf("A"));
    expect(a.reason).toBe("invalid");
    expect(a.message).toMatch(/keypad key/);
    expect(frames(serializer, dtmf("1", "outbound"))).toEqual([]);
  });

  it("ignores playedStream (a checkpoint echo) and clearedAudio", () => {
    const serializer = new PlivoFrameSerializer();
    frames(serializer, startMessage());
    const played = { event: "playedStream", sequenceNumber: 9, streamId: STREAM_ID, name: "greeting-end" };
    expect(frames(serializer, JSON.stringify(played))).toEqual([]);
    const cleared = { event: "clearedAudio", sequenceNumber: 10, streamId: STREAM_ID };
    expect(frames(serializer, JSON.stringify(cleared))).toEqual([]);
  });

  it("tolerates a stop (not in Plivo's current protocol): the task ends by its normal end path, once", () => {
    const serializer = new PlivoFrameSerializer();
    frames(serializer, startMessage());
    const stop = JSON.stringify({ event: "stop", sequenceNumber: 11, streamId: STREAM_ID });
    const [end] = frames(serializer, stop);
    expect(end).toBeInstanceOf(EndTaskFrame);
    expect(serializer.stopped).toBe(true);
    expect(frames(serializer, stop)).toEqual([]);
  });

  it("refuses an unknown event, broken JSON and a binary message, by reason", () => {
    const serializer = new PlivoFrameSerializer();
    expect(refusal(serializer, JSON.stringify({ event: "connected" })).reason).toBe("unknown-type");
    expect(refusal(serializer, "{broken").reason).toBe("malformed");
    expect(refusal(serializer, new Uint8Array(160)).reason).toBe("unknown-type");
    expect(refusal(serializer, JSON.stringify({ sequenceNumber: 1 })).reason).toBe("malformed");
  });
});

describe("PlivoFrameSerializer: extra_headers", () => {
  const paramsOf = (extra: unknown) => {
    const serializer = new PlivoFrameSerializer();
    const message = JSON.parse(startMessage()) as Record<string, unknown>;
    if (extra === undefined) delete message["extra_headers"];
    else message["extra_headers"] = extra;
    const out = frames(serializer, JSON.stringify(message));
    return { params: serializer.call!.customParameters, errors: out.filter((f) => f instanceof ErrorFrame) };
  };

  it("reads comma- and semicolon-separated pairs, trims spaces, keeps '=' inside a value", () => {
    const { params, errors } = paramsOf(" test1=12, test2 = 123 ;from=14155550100;to=14155550111;k=a=b ");
    expect({ ...params }).toEqual({
      test1: "12",
      test2: "123",
      from: "14155550100",
      to: "14155550111",
      k: "a=b",
    });
    expect(errors).toEqual([]);
  });

  it("gives the call from and to when the headers carry them", () => {
    const serializer = new PlivoFrameSerializer();
    frames(serializer, startMessage(undefined, "from=14155550100,to=14155550111"));
    expect(serializer.call).toMatchObject({ from: "14155550100", to: "14155550111" });
  });

  it("no extra_headers: no parameters and no error", () => {
    for (const extra of [undefined, null, ""]) {
      const { params, errors } = paramsOf(extra);
      expect(Object.keys(params)).toEqual([]);
      expect(errors).toEqual([]);
    }
  });

  it("a key named __proto__ or constructor is a key, not a way into Object.prototype", () => {
    const { params } = paramsOf("__proto__=polluted,constructor=x,toString=y");
    expect(params["__proto__"]).toBe("polluted");
    expect(params["constructor"]).toBe("x");
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(Object.prototype.toString.call({})).toBe("[object Object]");
    expect(Object.isFrozen(params)).toBe(true);
  });

  it("leaves out malformed pairs and says so once, in a non-fatal error", () => {
    const { params, errors } = paramsOf("ok=1,novalue,=x,bad key=2,<script>=3,k=" + "v".repeat(600));
    expect({ ...params }).toEqual({ ok: "1" });
    expect(errors).toHaveLength(1);
    const error = errors[0] as ErrorFrame;
    expect(error.fatal).toBe(false);
    expect(error.error.message).toMatch(/extra_headers: left out 5 pair\(s\)/);
    expect(error.error.message).toMatch(/key=value/);
  });

  it("keeps at most the first MAX_EXTRA_HEADERS_PAIRS keys", () => {
    const many = Array.from({ length: 250 }, (_, i) => `k${i}=1`).join(",");
    expect(many.length).toBeLessThan(MAX_EXTRA_HEADERS_CHARS);
    const { params, errors } = paramsOf(many);
    expect(Object.keys(params)).toHaveLength(MAX_EXTRA_HEADERS_PAIRS);
    expect(params["k0"]).toBe("1");
    expect(params[`k${MAX_EXTRA_HEADERS_PAIRS}`]).toBeUndefined();
    expect((errors[0] as ErrorFrame).error.message).toMatch(/186 pair\(s\) past the first 64/);
  });

  it("ignores an extra_headers longer than the limit, or not a string, and says why", () => {
    const long = paramsOf("a=" + "b".repeat(MAX_EXTRA_HEADERS_CHARS));
    expect(Object.keys(long.params)).toEqual([]);
    expect((long.errors[0] as ErrorFrame).error.message).toMatch(/more than 2048/);
    const object = paramsOf({ a: "b" });
    expect(Object.keys(object.params)).toEqual([]);
    expect((object.errors[0] as ErrorFrame).error.message).toMatch(/not a string/);
  });
});

describe("PlivoFrameSerializer: the format check at start", () => {
  it("a stream left at Plivo's default (L16 8 kHz) is decoded as L16, and the error says to set contentType on <Stream>", () => {
    const serializer = new PlivoFrameSerializer(); // expects μ-law
    const out = frames(serializer, startMessage({ encoding: "audio/x-l16", sampleRate: 8000 }));
    expect(out).toHaveLength(1);
    const error = out[0] as ErrorFrame;
    expect(error.fatal).toBe(false);
    expect(error.error).toBeInstanceOf(TelephonyFormatError);
    expect(error.error.message).toContain(
      'set contentType="audio/x-mulaw;rate=8000" on the <Stream> element',
    );
    expect(error.error.message).toContain("Plivo streams audio/x-l16;rate=8000");
    // Adopted for inbound: 320 bytes are 160 L16 samples, not 320 μ-law ones.
    expect(serializer.inbound).toEqual({ encoding: "l16", sampleRate: 8000 });
    const [audio] = frames(serializer, mediaMessage(new Uint8Array(320))) as InputAudioRawFrame[];
    expect(audio!.audio.length).toBe(160);
    // Outbound stays what the serializer was made for.
    expect(serializer.outbound).toEqual({ encoding: "mulaw", sampleRate: 8000 });
  });

  it("a 16 kHz stream for an 8 kHz serializer is adopted at 16 kHz", () => {
    const serializer = new PlivoFrameSerializer({ contentType: "audio/x-l16;rate=8000" });
    const [error] = frames(serializer, startMessage({ encoding: "audio/x-l16", sampleRate: 16000 }));
    expect((error as ErrorFrame).error.message).toContain('contentType="audio/x-l16;rate=8000"');
    expect(serializer.call!.inbound).toEqual({ encoding: "l16", sampleRate: 16000 });
  });

  it("a format voicepipe cannot read ends the call with a fatal error naming the contentType to set", () => {
    for (const mediaFormat of [
      { encoding: "audio/x-alaw", sampleRate: 8000 },
      { encoding: "audio/x-l16", sampleRate: 0 },
      { encoding: "audio/x-mulaw", sampleRate: 1e12 },
    ]) {
      const serializer = new PlivoFrameSerializer();
      const [error] = frames(serializer, startMessage(mediaFormat));
      expect((error as ErrorFrame).fatal).toBe(true);
      expect((error as ErrorFrame).error.message).toMatch(
        /cannot decode; set contentType="audio\/x-mulaw;rate=8000"/,
      );
    }
  });

  it("a start with no mediaFormat keeps the expected format and reports nothing", () => {
    const serializer = new PlivoFrameSerializer();
    expect(frames(serializer, startMessage(null))).toEqual([]);
    expect(serializer.inbound).toEqual({ encoding: "mulaw", sampleRate: 8000 });
  });
});

describe("PlivoFrameSerializer: writing to Plivo", () => {
  it("sends playAudio declaring 8 kHz μ-law, with the streamId, in 160-byte (20 ms) packets", async () => {
    const serializer = await started();
    const out = written(serializer.serialize(new OutputAudioRawFrame(tone(480, 8000), 8000, 1)));
    expect(out).toHaveLength(3);
    for (const m of out) {
      expect(Object.keys(m)).toEqual(["event", "streamId", "media"]);
      expect(m.event).toBe("playAudio");
      expect(m.streamId).toBe(STREAM_ID);
      expect(m.media.contentType).toBe("audio/x-mulaw");
      expect(m.media.sampleRate).toBe(8000);
      expect(Buffer.from(m.media.payload, "base64").byteLength).toBe(160);
    }
  });

  it.each([
    ["audio/x-l16;rate=8000", 8000, 320],
    ["audio/x-l16;rate=16000", 16000, 640],
  ] as const)(
    "%s: converts 24 kHz output and sends 20 ms L16 packets of %i Hz (%i bytes), the tail padded on TTSStoppedFrame",
    async (contentType, rate, bytes) => {
      const serializer = await started({ contentType }, undefined, 24000);
      const out = written(
        serializer.serialize(new OutputAudioRawFrame(tone(24000 / 10 + 120, 24000), 24000, 1)),
      );
      const tail = written(serializer.serialize(new TTSStoppedFrame()));
      expect(tail).toHaveLength(1);
      const all = [...out, ...tail];
      // 105 ms in: five whole packets (within a packet of the resampler's delay) and a padded tail.
      expect(all.length).toBeGreaterThanOrEqual(5);
      expect(all.length).toBeLessThanOrEqual(6);
      for (const m of all) {
        expect(m.media).toMatchObject({ contentType: "audio/x-l16", sampleRate: rate });
        expect(Buffer.from(m.media.payload, "base64").byteLength).toBe(bytes);
      }
    },
  );

  it("sends clearAudio with the streamId on an interruption, and nothing before the stream started", async () => {
    expect(new PlivoFrameSerializer().serialize(new InterruptionFrame())).toBeUndefined();
    const serializer = await started();
    written(serializer.serialize(new OutputAudioRawFrame(tone(100, 8000), 8000, 1))); // a partial packet held
    const [clear] = written(serializer.serialize(new InterruptionFrame()));
    expect(clear).toEqual({ event: "clearAudio", streamId: STREAM_ID });
    // The partial packet went with the interruption: nothing is left to flush.
    expect(serializer.serialize(new TTSStoppedFrame())).toBeUndefined();
  });

  it("sends sendDTMF for an OutputDTMFFrame; before the stream started it is an error, not a silent drop", async () => {
    expect(() => new PlivoFrameSerializer().serialize(new OutputDTMFFrame(["1"]))).toThrow(
      FrameSerializeError,
    );
    const serializer = await started();
    expect(JSON.parse(serializer.serialize(new OutputDTMFFrame(["1", "2", "3"])) as string)).toEqual({
      event: "sendDTMF",
      dtmf: "123",
    });
    expect(() => serializer.serialize(new OutputDTMFFrame([]))).toThrow(/without keys/);
  });

  it("counts audio that comes before the start and sends none of it", () => {
    const serializer = new PlivoFrameSerializer();
    expect(serializer.serialize(new OutputAudioRawFrame(tone(160, 8000), 8000, 1))).toBeUndefined();
    expect(serializer.audioBeforeStart).toBe(1);
  });

  it("sends a checkpoint transport message with the stream's id added, other messages as they are", async () => {
    const serializer = await started();
    const checkpoint = serializer.serialize(
      new OutputTransportMessageFrame({ event: "checkpoint", name: "greeting-end" }),
    );
    expect(JSON.parse(checkpoint as string)).toEqual({
      event: "checkpoint",
      name: "greeting-end",
      streamId: STREAM_ID,
    });
    const own = { event: "checkpoint", streamId: "other", name: "x" };
    expect(JSON.parse(serializer.serialize(new OutputTransportMessageFrame(own)) as string)).toEqual(own);
    expect(
      serializer.serialize(new OutputTransportMessageFrame({ label: "rtvi-ai", type: "bot-ready" })),
    ).toBeUndefined();
  });
});

describe("PlivoFrameSerializer: options", () => {
  it("takes each documented contentType and refuses anything else, naming the allowed ones", () => {
    for (const contentType of PLIVO_CONTENT_TYPES) {
      expect(new PlivoFrameSerializer({ contentType }).contentType).toBe(contentType);
    }
    expect(new PlivoFrameSerializer().contentType).toBe("audio/x-mulaw;rate=8000");
    for (const bad of [
      "audio/x-mulaw",
      "audio/x-alaw;rate=8000",
      "AUDIO/X-MULAW;RATE=8000",
      "__proto__",
      8000,
    ]) {
      const make = () => new PlivoFrameSerializer({ contentType: bad as never });
      expect(make).toThrow(InvalidOptionError);
      expect(make).toThrow(/"audio\/x-mulaw;rate=8000", "audio\/x-l16;rate=8000", "audio\/x-l16;rate=16000"/);
      expect(make).toThrow(/contentType attribute of <Stream>/);
    }
  });

  it("is what createTelephonySerializer('plivo') makes, and listed", () => {
    expect(createTelephonySerializer("plivo")).toBeInstanceOf(PlivoFrameSerializer);
    expect(TELEPHONY_PROVIDERS).toContain("plivo");
  });
});
