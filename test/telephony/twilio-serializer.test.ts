/**
 * TwilioFrameSerializer against message fixtures written from Twilio's "Media Streams – WebSocket
 * Messages" page (protocols.md §2.1): every inbound event, the refusals, and what is sent back.
 */
import { describe, expect, it } from "vitest";
import { decodeUlaw, encodeUlaw } from "../../src/audio/g711.js";
import { resampleOnce } from "../../src/audio/resampler.js";
import { ErrorFrame } from "../../src/frames/error.js";
import type { Frame } from "../../src/frames/frame.js";
import {
  EndTaskFrame,
  InputAudioRawFrame,
  InputDTMFFrame,
  InterruptionFrame,
  OutputAudioRawFrame,
  OutputDTMFFrame,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  BotStoppedSpeakingFrame,
} from "../../src/index.js";
import { FrameSerializeError, type DeserializeResult } from "../../src/serializers/frame-serializer.js";
import { TwilioFrameSerializer } from "../../src/serializers/telephony/twilio.js";
import { TelephonyFormatError } from "../../src/serializers/telephony/telephony-serializer.js";
import { ACCOUNT_SID, CALL_SID, STREAM_SID, twilioStream } from "../support/twilio-fake.js";

function frames(result: DeserializeResult): readonly Frame[] {
  if (!result.ok) throw new Error(`refused: ${result.error.message}`);
  return result.frames;
}

function refusal(result: DeserializeResult) {
  if (result.ok) throw new Error(`accepted: ${result.frames.map((f) => f.name).join(", ")}`);
  return result.error;
}

/** A serializer whose stream has started (connected, start). */
function started(
  options: ConstructorParameters<typeof TwilioFrameSerializer>[0] = {},
): TwilioFrameSerializer {
  const serializer = new TwilioFrameSerializer(options);
  frames(serializer.deserialize(twilioStream.connected()));
  frames(serializer.deserialize(twilioStream.start()));
  return serializer;
}

/** What `serialize` returned, as a list of text messages. */
function sent(serializer: TwilioFrameSerializer, frame: Frame): string[] {
  const out = serializer.serialize(frame);
  if (out === undefined) return [];
  const list = Array.isArray(out) ? out : [out];
  for (const m of list) expect(typeof m).toBe("string"); // Twilio takes text frames only (31950)
  return list as string[];
}

interface MediaMessage {
  event: string;
  streamSid: string;
  media?: { payload: string };
}

const parse = (messages: string[]): MediaMessage[] => messages.map((m) => JSON.parse(m) as MediaMessage);

/** The μ-law bytes of the media messages, checked for Twilio's shape on the way. */
function payloads(messages: string[]): Uint8Array[] {
  return parse(messages).map((m) => {
    expect(Object.keys(m).sort()).toEqual(["event", "media", "streamSid"]);
    expect(m.event).toBe("media");
    expect(m.streamSid).toBe(STREAM_SID);
    expect(Object.keys(m.media!)).toEqual(["payload"]);
    return new Uint8Array(Buffer.from(m.media!.payload, "base64"));
  });
}

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function sine(samples: number, rate: number, hz = 440, amplitude = 10_000): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)),
  );
}

describe("TwilioFrameSerializer: inbound", () => {
  it("reads connected as nothing to do, and start as the call", () => {
    const serializer = new TwilioFrameSerializer();
    expect(frames(serializer.deserialize(twilioStream.connected()))).toEqual([]);
    expect(serializer.call).toBeUndefined();
    const start = twilioStream.start({
      customParameters: { from_number: "+15550100001", to_number: "+15550100002", lang: "fr" },
    });
    expect(frames(serializer.deserialize(start))).toEqual([]);
    expect(serializer.call).toEqual({
      provider: "twilio",
      callId: CALL_SID,
      streamId: STREAM_SID,
      from: "+15550100001",
      to: "+15550100002",
      customParameters: { from_number: "+15550100001", to_number: "+15550100002", lang: "fr" },
      inbound: { encoding: "mulaw", sampleRate: 8000 },
    });
    expect(Object.isFrozen(serializer.call)).toBe(true);
  });

  it("adopts a declared μ-law rate other than 8 kHz, and says so without ending the call", () => {
    const serializer = new TwilioFrameSerializer();
    const out = frames(
      serializer.deserialize(
        twilioStream.start({ mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 16000, channels: 1 } }),
      ),
    );
    expect(out).toHaveLength(1);
    const error = out[0] as ErrorFrame;
    expect(error).toBeInstanceOf(ErrorFrame);
    expect(error.fatal).toBe(false);
    expect(error.error).toBeInstanceOf(TelephonyFormatError);
    expect(error.error.message).toMatch(/sends 16 kHz μ-law, not the expected 8 kHz μ-law/);
    expect(serializer.inbound).toEqual({ encoding: "mulaw", sampleRate: 16000 });
    const audio = frames(serializer.deserialize(twilioStream.media(0, new Uint8Array(320).fill(0xff))));
    expect((audio[0] as InputAudioRawFrame).sampleRate).toBe(16000);
  });

  it("ends the call with a fatal error for a media format it cannot decode", () => {
    const serializer = new TwilioFrameSerializer();
    const out = frames(
      serializer.deserialize(
        twilioStream.start({ mediaFormat: { encoding: "audio/x-opus", sampleRate: 48000, channels: 1 } }),
      ),
    );
    const error = out[0] as ErrorFrame;
    expect(error.fatal).toBe(true);
    expect(error.error.message).toMatch(
      /audio\/x-opus at 48000 Hz, which voicepipe cannot decode; set the stream to 8 kHz μ-law/,
    );

    // A μ-law rate the transport cannot resample is as undecodable, and the expected format stays.
    const absurd = new TwilioFrameSerializer();
    const [fatal] = frames(
      absurd.deserialize(
        twilioStream.start({ mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 1e9, channels: 1 } }),
      ),
    );
    expect((fatal as ErrorFrame).fatal).toBe(true);
    expect((fatal as ErrorFrame).error.message).toMatch(
      /μ-law at 1000000000 Hz, which voicepipe cannot decode/,
    );
    expect(absurd.inbound).toEqual({ encoding: "mulaw", sampleRate: 8000 });
  });

  it("refuses a start without its ids, and a second start", () => {
    const serializer = new TwilioFrameSerializer();
    const noCall = JSON.stringify({
      event: "start",
      streamSid: STREAM_SID,
      start: { streamSid: STREAM_SID, accountSid: ACCOUNT_SID },
    });
    expect(refusal(serializer.deserialize(noCall)).reason).toBe("invalid");
    expect(serializer.call).toBeUndefined();
    frames(serializer.deserialize(twilioStream.start()));
    const again = refusal(serializer.deserialize(twilioStream.start({ callSid: "CA" + "9".repeat(32) })));
    expect(again.reason).toBe("invalid");
    expect(again.message).toMatch(/a second start message/);
    expect(serializer.call!.callId).toBe(CALL_SID);
  });

  it("decodes inbound media (base64 μ-law) to 8 kHz audio, one sample a byte", () => {
    const serializer = started();
    const bytes = encodeUlaw(sine(160, 8000));
    const out = frames(serializer.deserialize(twilioStream.media(0, bytes)));
    expect(out).toHaveLength(1);
    const audio = out[0] as InputAudioRawFrame;
    expect(audio).toBeInstanceOf(InputAudioRawFrame);
    expect(audio.sampleRate).toBe(8000);
    expect(audio.numChannels).toBe(1);
    expect(Array.from(audio.audio)).toEqual(Array.from(decodeUlaw(bytes)));
  });

  it("ignores the outbound track (the bot's own audio, in <Start> streams)", () => {
    const serializer = started();
    expect(frames(serializer.deserialize(twilioStream.media(0, new Uint8Array(160), "outbound")))).toEqual(
      [],
    );
  });

  it("turns a DTMF key into an InputDTMFFrame and refuses a digit that is not a key", () => {
    const serializer = started();
    for (const digit of ["0", "5", "9", "*", "#"]) {
      const out = frames(serializer.deserialize(twilioStream.dtmf(digit)));
      expect(out).toHaveLength(1);
      expect(out[0]).toBeInstanceOf(InputDTMFFrame);
      expect((out[0] as InputDTMFFrame).button).toBe(digit);
    }
    for (const digit of ["A", "10", "", " 5"]) {
      const error = refusal(serializer.deserialize(twilioStream.dtmf(digit)));
      expect(error.reason).toBe("invalid");
      expect(error.message).toMatch(/not a keypad key \(0-9, \*, #\)/);
    }
    const noDigit = JSON.stringify({
      event: "dtmf",
      streamSid: STREAM_SID,
      dtmf: { track: "inbound_track" },
    });
    expect(refusal(serializer.deserialize(noDigit)).reason).toBe("invalid");
  });

  it("reads a mark echo as nothing to do", () => {
    expect(frames(started().deserialize(twilioStream.mark("greeting-end")))).toEqual([]);
  });

  it("turns stop into one EndTaskFrame (the normal end path), once", () => {
    const serializer = started();
    const out = frames(serializer.deserialize(twilioStream.stop()));
    expect(out).toHaveLength(1);
    expect(out[0]).toBeInstanceOf(EndTaskFrame);
    expect((out[0] as EndTaskFrame).reason).toMatch(/twilio: the call ended/);
    expect(serializer.stopped).toBe(true);
    expect(frames(serializer.deserialize(twilioStream.stop()))).toEqual([]);
  });

  it("refuses, in words, each kind of bad message, and goes on reading", () => {
    const serializer = started({ maxMessageBytes: 2048 });
    const cases: Array<[Uint8Array | string, string, RegExp]> = [
      [
        JSON.stringify({ event: "transcription", streamSid: STREAM_SID }),
        "unknown-type",
        /unknown event "transcription"/,
      ],
      [new Uint8Array([1, 2, 3]), "unknown-type", /send text \(JSON\) messages only/],
      ['{"event":"media","media":{"payload":"//', "malformed", /JSON/],
      ["[1,2,3]", "malformed", /not a JSON object/],
      ['{"streamSid":"MZ1"}', "malformed", /no "event" field/],
      [twilioStream.media(0, "////\n///"), "invalid", /not valid base64/],
      [twilioStream.media(0, "abc"), "invalid", /not valid base64/],
      [
        JSON.stringify({ event: "media", media: { payload: 42 } }),
        "malformed",
        /base64 string media.payload/,
      ],
      ["x".repeat(2049), "oversized", /longer than maxMessageBytes \(2048\)/],
    ];
    for (const [message, reason, words] of cases) {
      const error = refusal(serializer.deserialize(message));
      expect(error.reason, String(message).slice(0, 40)).toBe(reason);
      expect(error.message).toMatch(words);
      expect(error.message).toMatch(/^twilio serializer: /);
    }
    // Still reading.
    expect(frames(serializer.deserialize(twilioStream.media(1, new Uint8Array(160))))).toHaveLength(1);
  });
});

describe("TwilioFrameSerializer: outbound", () => {
  it("sends 8 kHz audio as media messages of exactly 160 μ-law bytes, each with the streamSid", () => {
    const serializer = started();
    const pcm = sine(400, 8000);
    const first = payloads(sent(serializer, new OutputAudioRawFrame(pcm, 8000)));
    expect(first.map((p) => p.byteLength)).toEqual([160, 160]);
    const tail = payloads(sent(serializer, new TTSStoppedFrame()));
    expect(tail.map((p) => p.byteLength)).toEqual([160]);
    const all = concat([...first, ...tail]);
    expect(Array.from(all.subarray(0, 400))).toEqual(Array.from(encodeUlaw(pcm)));
    expect(all.subarray(400).every((b) => b === 0xff)).toBe(true); // padded with μ-law silence
    expect(sent(serializer, new BotStoppedSpeakingFrame())).toEqual([]); // nothing left to flush
  });

  it("holds audio that comes before the stream started (no streamSid yet), and counts it", () => {
    const serializer = new TwilioFrameSerializer();
    expect(sent(serializer, new OutputAudioRawFrame(sine(160, 8000), 8000))).toEqual([]);
    expect(serializer.audioBeforeStart).toBe(1);
    expect(sent(serializer, new InterruptionFrame())).toEqual([]);
  });

  it("resamples 24 kHz pipeline audio to 8 kHz as one stream: chunking makes no difference (no clicks at chunk edges)", async () => {
    const whole = started();
    const chunked = started();
    await whole.setup({ audioInSampleRate: 16000, audioOutSampleRate: 24000 });
    await chunked.setup({ audioInSampleRate: 16000, audioOutSampleRate: 24000 });
    try {
      const pcm = sine(24_000, 24_000, 440, 12_000); // one second
      const a = payloads([
        ...sent(whole, new TTSAudioRawFrame(pcm, 24000)),
        ...sent(whole, new TTSStoppedFrame()),
      ]);
      const sizes = [480, 1, 7, 333, 960, 240, 13, 2000];
      const b: Uint8Array[] = [];
      for (let at = 0, i = 0; at < pcm.length; i++) {
        const size = Math.min(sizes[i % sizes.length]!, pcm.length - at);
        b.push(...payloads(sent(chunked, new TTSAudioRawFrame(pcm.slice(at, at + size), 24000))));
        at += size;
      }
      b.push(...payloads(sent(chunked, new TTSStoppedFrame())));
      for (const p of [...a, ...b]) expect(p.byteLength).toBe(160);
      const wholeBytes = concat(a);
      const chunkedBytes = concat(b);
      expect(chunkedBytes.byteLength).toBe(wholeBytes.byteLength);
      expect(wholeBytes.byteLength).toBe(8000); // 1 s at 8 kHz, exactly 50 packets
      expect(Buffer.from(chunkedBytes).equals(Buffer.from(wholeBytes))).toBe(true);

      // The measure would see clicks: resampling each chunk on its own (a fresh resampler per
      // chunk) jumps at the edges far more than a 440 Hz sine's largest step at 8 kHz.
      const maxStep = (x: Int16Array, from = 50) => {
        let m = 0;
        for (let i = from + 1; i < x.length - 50; i++) m = Math.max(m, Math.abs(x[i]! - x[i - 1]!));
        return m;
      };
      const smooth = maxStep(decodeUlaw(chunkedBytes));
      expect(smooth).toBeLessThan(12_000 * 2 * Math.sin((Math.PI * 440) / 8000) * 1.15);
      const naive: Int16Array[] = [];
      for (let at = 0, i = 0; at < pcm.length; i++) {
        const size = Math.min(sizes[i % sizes.length]!, pcm.length - at);
        naive.push(await resampleOnce(pcm.slice(at, at + size), 24000, 8000));
        at += size;
      }
      const clicky = Int16Array.from(naive.flatMap((x) => Array.from(x)));
      expect(maxStep(decodeUlaw(encodeUlaw(clicky)))).toBeGreaterThan(smooth * 1.5);
    } finally {
      whole.dispose();
      chunked.dispose();
    }
  });

  it("refuses audio at a rate it was not set up for, saying which rate to set", () => {
    const serializer = started();
    expect(() => serializer.serialize(new OutputAudioRawFrame(sine(480, 24000), 24000))).toThrow(
      /output audio at 24000 Hz, but the serializer was set up for 8000 Hz; set the transport's audioOutSampleRate to 8000/,
    );
  });

  it("answers an interruption with clear (with the streamSid) and drops the partial packet", () => {
    const serializer = started();
    expect(payloads(sent(serializer, new OutputAudioRawFrame(sine(200, 8000), 8000)))).toHaveLength(1);
    const clear = sent(serializer, new InterruptionFrame());
    expect(clear.map((m) => JSON.parse(m) as unknown)).toEqual([{ event: "clear", streamSid: STREAM_SID }]);
    expect(sent(serializer, new TTSStoppedFrame())).toEqual([]); // the 40 stale bytes are gone
  });

  it("refuses OutputDTMFFrame with a clear error: Twilio's stream cannot play DTMF", () => {
    const serializer = started();
    const error = (() => {
      try {
        serializer.serialize(new OutputDTMFFrame(["1", "#"]));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(FrameSerializeError);
    expect((error as Error).message).toMatch(
      /twilio: its media stream cannot send DTMF tones; use the provider's call API/,
    );
    expect(() => new TwilioFrameSerializer().serialize(new OutputDTMFFrame(["1"]))).toThrow(
      /before the stream started/,
    );
  });

  it("does not send RTVI transport messages, and sends other transport messages as JSON text as they are", () => {
    const serializer = started();
    const rtvi = { label: "rtvi-ai", type: "bot-ready", data: {} };
    expect(sent(serializer, new OutputTransportMessageFrame(rtvi))).toEqual([]);
    expect(sent(serializer, new OutputTransportMessageUrgentFrame(rtvi))).toEqual([]);
    const mark = { event: "mark", streamSid: STREAM_SID, mark: { name: "greeting-end" } };
    expect(sent(serializer, new OutputTransportMessageFrame(mark))).toEqual([JSON.stringify(mark)]);
    expect(sent(serializer, new OutputTransportMessageUrgentFrame(mark))).toEqual([JSON.stringify(mark)]);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => serializer.serialize(new OutputTransportMessageFrame(cycle))).toThrow(FrameSerializeError);
    expect(() => serializer.serialize(new OutputTransportMessageFrame(undefined))).toThrow(/not JSON/);
  });
});
