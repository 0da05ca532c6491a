/**
 * Fuzz of TwilioFrameSerializer.deserialize: messages Twilio could send, broken ones, and
 * anything else a socket can deliver, one at a time and as whole streams. Properties: it never
 * throws; a refusal has a reason and words; no audio longer than the message could carry; the call,
 * once known, never changes; at most one end request per stream; the stream's rate is one the
 * transport can take.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorFrame } from "../../src/frames/error.js";
import type { Frame } from "../../src/frames/frame.js";
import { EndTaskFrame, InputAudioRawFrame, InputDTMFFrame } from "../../src/index.js";
import { TwilioFrameSerializer } from "../../src/serializers/telephony/twilio.js";
import { checkSampleRate } from "../../src/transports/param-checks.js";
import { ACCOUNT_SID, CALL_SID, STREAM_SID } from "../support/twilio-fake.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 3000);
const MAX_MESSAGE_BYTES = 4096;
const REASONS = ["oversized", "malformed", "unknown-type", "invalid"];

// ---- Inputs ---------------------------------------------------------------------------------------

const junk = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.constant({}),
  fc.constant([]),
);
const base64Payload = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString("base64")), weight: 4 },
  // Base64 with a character Node's decoder skips (a space, a line break, URL-safe letters, junk).
  {
    arbitrary: fc
      .tuple(
        fc.uint8Array({ minLength: 3, maxLength: 300 }),
        fc.constantFrom(" ", "\n", "-", "_", "*", "é", "=", "."),
        fc.nat(),
      )
      .map(([b, c, at]) => {
        const text = Buffer.from(b).toString("base64");
        const i = at % text.length;
        return text.slice(0, i) + c + text.slice(i);
      }),
    weight: 2,
  },
  { arbitrary: fc.string({ maxLength: 300 }), weight: 1 },
  { arbitrary: junk, weight: 1 },
);
const rate = fc.oneof(
  fc.constantFrom(
    8000,
    16000,
    "8000",
    0,
    -8000,
    999,
    1000,
    768_000,
    768_001,
    1e9,
    8000.5,
    Number.MAX_SAFE_INTEGER,
  ),
  fc.integer(),
  junk,
);
const mediaFormat = fc.oneof(
  fc.record({
    encoding: fc.oneof(fc.constantFrom("audio/x-mulaw", "audio/x-alaw", "audio/x-l16", "audio/opus"), junk),
    sampleRate: rate,
    channels: fc.oneof(fc.constantFrom(1, 2), junk),
  }),
  junk,
);
const sid = fc.oneof(fc.constantFrom(CALL_SID, STREAM_SID), fc.string({ maxLength: 40 }), junk);
const start = fc.record(
  {
    event: fc.constant("start"),
    sequenceNumber: fc.oneof(fc.constant("1"), junk),
    streamSid: sid,
    start: fc.oneof(
      fc.record(
        {
          streamSid: sid,
          accountSid: fc.oneof(fc.constant(ACCOUNT_SID), junk),
          callSid: sid,
          tracks: fc.oneof(fc.constant(["inbound"]), junk),
          customParameters: fc.oneof(
            fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), junk)),
            junk,
          ),
          mediaFormat,
        },
        { requiredKeys: [] },
      ),
      junk,
    ),
  },
  { requiredKeys: ["event"] },
);
/** A start Twilio could send but for its media format: what the format check sees. */
const wellFormedStart = mediaFormat.map(
  (format) =>
    JSON.parse(
      JSON.stringify({
        event: "start",
        sequenceNumber: "1",
        streamSid: STREAM_SID,
        start: {
          streamSid: STREAM_SID,
          accountSid: ACCOUNT_SID,
          callSid: CALL_SID,
          tracks: ["inbound"],
          mediaFormat: format,
        },
      }),
    ) as unknown,
);
const media = fc.record(
  {
    event: fc.constant("media"),
    streamSid: sid,
    media: fc.oneof(
      fc.record(
        {
          track: fc.oneof(fc.constantFrom("inbound", "outbound"), junk),
          chunk: fc.oneof(fc.constant("1"), junk),
          timestamp: fc.oneof(fc.constant("20"), junk),
          payload: base64Payload,
        },
        { requiredKeys: [] },
      ),
      junk,
    ),
  },
  { requiredKeys: ["event"] },
);
const dtmf = fc.record({
  event: fc.constant("dtmf"),
  streamSid: sid,
  dtmf: fc.oneof(
    fc.record({ track: fc.constant("inbound_track"), digit: fc.oneof(fc.string({ maxLength: 3 }), junk) }),
    junk,
  ),
});
const other = fc.record({
  event: fc.oneof(
    fc.constantFrom("connected", "mark", "stop", "clear", "closed", ""),
    fc.string({ maxLength: 12 }),
    junk,
  ),
  streamSid: sid,
  mark: fc.oneof(fc.record({ name: fc.string() }), junk),
  stop: fc.oneof(fc.record({ accountSid: fc.constant(ACCOUNT_SID), callSid: sid }), junk),
});
const json = fc.oneof(start, wellFormedStart, media, media, dtmf, other).map((m) => JSON.stringify(m));
/** A JSON message cut short, or with a character changed: what a broken proxy delivers. */
const broken = fc
  .tuple(json, fc.nat(), fc.constantFrom("", "}", "\u0000", "\ud800", "\\"))
  .map(([text, at, c]) => text.slice(0, at % (text.length + 1)) + c);
const message: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { arbitrary: json, weight: 6 },
  { arbitrary: broken, weight: 2 },
  { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
  {
    arbitrary: fc
      .integer({ min: MAX_MESSAGE_BYTES - 2, max: MAX_MESSAGE_BYTES + 2 })
      .map((n) => "x".repeat(n)),
    weight: 1,
  },
);

// ---- Properties -----------------------------------------------------------------------------------

const bytesOf = (m: string | Uint8Array): number => (typeof m === "string" ? m.length : m.byteLength);

/** Checks one answer; returns its frames. */
function check(serializer: TwilioFrameSerializer, m: string | Uint8Array): readonly Frame[] {
  let result: ReturnType<TwilioFrameSerializer["deserialize"]>;
  try {
    result = serializer.deserialize(m);
  } catch (error) {
    throw new Error(`deserialize threw on ${JSON.stringify(String(m).slice(0, 200))}: ${String(error)}`, {
      cause: error,
    });
  }
  if (!result.ok) {
    expect(REASONS).toContain(result.error.reason);
    expect(result.error.detail.length).toBeGreaterThan(10);
    expect(result.error.code).toBe("VP_DESERIALIZE");
    expect(result.error.byteLength).toBe(bytesOf(m));
    return [];
  }
  expect(result.frames.length).toBeLessThanOrEqual(1);
  for (const frame of result.frames) {
    if (frame instanceof InputAudioRawFrame) {
      // μ-law: one sample a byte; base64 carries 3 bytes in 4 characters of the message.
      expect(frame.audio.length).toBeLessThanOrEqual(Math.floor((bytesOf(m) * 3) / 4));
      expect(frame.audio.length).toBeGreaterThan(0);
      expect(frame.sampleRate).toBe(serializer.inbound.sampleRate);
    } else if (frame instanceof InputDTMFFrame) {
      expect("0123456789*#").toContain(frame.button);
    } else {
      expect(frame instanceof EndTaskFrame || frame instanceof ErrorFrame).toBe(true);
    }
  }
  return result.frames;
}

describe("TwilioFrameSerializer.deserialize (fuzz)", () => {
  it("never throws; refuses in words; no audio longer than the message could carry", () => {
    const serializer = new TwilioFrameSerializer({ maxMessageBytes: MAX_MESSAGE_BYTES });
    fc.assert(
      fc.property(message, (m) => {
        check(serializer, m);
      }),
      { numRuns: RUNS },
    );
  });

  it("over a whole stream: the call never changes once known, one end request at most, a rate the transport takes", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 40 }), (stream) => {
        const serializer = new TwilioFrameSerializer({ maxMessageBytes: MAX_MESSAGE_BYTES });
        let call = serializer.call;
        let ends = 0;
        for (const m of stream) {
          for (const frame of check(serializer, m)) if (frame instanceof EndTaskFrame) ends++;
          if (call) expect(serializer.call).toBe(call);
          call = serializer.call;
          // answerCall gives the stream's rate to the transport, which refuses rates it cannot resample.
          expect(() => checkSampleRate("rate", serializer.inbound.sampleRate)).not.toThrow();
        }
        expect(ends).toBeLessThanOrEqual(1);
      }),
      { numRuns: Math.ceil(RUNS / 10) },
    );
  });
});
