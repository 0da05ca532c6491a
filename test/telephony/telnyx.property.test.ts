/**
 * Property tests of the Telnyx stream reader: the reorder window (any order, copies and gaps of
 * message numbers: output strictly increasing, never more than the window held, every message
 * that is not late delivered exactly once) and a fuzz of `deserialize` (never throws, a refusal
 * has a reason, no frame larger than a message could carry, bounded state).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorFrame, InputAudioRawFrame, InputDTMFFrame } from "../../src/index.js";
import { FrameDeserializeError } from "../../src/serializers/index.js";
import { ReorderWindow, TelnyxFrameSerializer } from "../../src/telephony/index.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 2000);

/** Pushes every number, then flushes; returns what came out, in order, and checks the bound on every step. */
function run(window: ReorderWindow<number>, seqs: readonly number[]): { out: number[]; maxHeld: number } {
  const out: number[] = [];
  let maxHeld = 0;
  for (const seq of seqs) {
    out.push(...window.push(seq, seq));
    maxHeld = Math.max(maxHeld, window.held);
  }
  out.push(...window.flush());
  return { out, maxHeld };
}

describe("ReorderWindow (property)", () => {
  it("releases in strictly increasing order, holds at most its capacity, and delivers every message that is not late exactly once", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 120 }),
        (capacity, seqs) => {
          // (A numbering that starts again is the one exception to the order: tested below.)
          const window = new ReorderWindow<number>(capacity, Number.MAX_SAFE_INTEGER);
          // A model of what each push should do, from the state the window had before it.
          const accepted = new Set<number>();
          let late = 0;
          let duplicates = 0;
          const out: number[] = [];
          let maxHeld = 0;
          for (const seq of seqs) {
            const next = window.next;
            if (next !== undefined && seq < next) late++;
            else if (accepted.has(seq) && !out.includes(seq)) duplicates++;
            else accepted.add(seq);
            out.push(...window.push(seq, seq));
            maxHeld = Math.max(maxHeld, window.held);
          }
          out.push(...window.flush());
          for (let i = 1; i < out.length; i++) expect(out[i]).toBeGreaterThan(out[i - 1]!);
          expect(maxHeld).toBeLessThanOrEqual(capacity);
          expect(window.held).toBe(0);
          expect([...out].sort((a, b) => a - b)).toEqual([...accepted].sort((a, b) => a - b));
          expect(window.late).toBe(late);
          expect(window.duplicates).toBe(duplicates);
          expect(out.length + late + duplicates).toBe(seqs.length);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("a stream shuffled by no more than the window comes out whole and in order, with nothing held at the end", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.nat(), { maxLength: 150 }),
        (capacity, base, noise) => {
          // Sorting by index + a number in [0, capacity] moves each message at most `capacity` places.
          const seqs = noise
            .map((n, i) => ({ seq: base + 1 + i, key: i + (n % (capacity + 1)) }))
            .sort((a, b) => a.key - b.key || a.seq - b.seq)
            .map((m) => m.seq);
          const window = new ReorderWindow<number>(capacity);
          // The stream's first message (Telnyx: `start`) sets where the numbering begins.
          expect(window.push(base, base)).toEqual([base]);
          const out: number[] = [];
          for (const seq of seqs) {
            out.push(...window.push(seq, seq));
            expect(window.held).toBeLessThanOrEqual(capacity);
          }
          expect(window.held).toBe(0);
          expect(out).toEqual(noise.map((_, i) => base + 1 + i));
          expect(window.late + window.duplicates + window.skipped).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("numbers missing from an ordered stream are skipped, and nothing else is lost", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { maxLength: 100 }),
        (capacity, unique) => {
          const seqs = [...unique].sort((a, b) => a - b);
          const { out, maxHeld } = run(new ReorderWindow<number>(capacity), seqs);
          expect(out).toEqual(seqs);
          expect(maxHeld).toBeLessThanOrEqual(capacity);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("ReorderWindow: a numbering that starts again", () => {
  it("restarts after restartAfter late messages that follow one another, releasing what it held first", () => {
    const window = new ReorderWindow<number>(3, 25);
    for (let seq = 1000; seq <= 1010; seq++) expect(window.push(seq, seq)).toEqual([seq]);
    expect(window.push(1012, 1012)).toEqual([]); // held: 1011 missing
    const out: number[] = [];
    for (let seq = 1; seq <= 30; seq++) out.push(...window.push(seq, seq));
    expect(out).toEqual([1012, 25, 26, 27, 28, 29, 30]);
    expect(window.restarts).toBe(1);
    expect(window.late).toBe(24);
    expect(window.held).toBe(0);
  });

  it("does not restart on late messages that do not follow one another (stragglers, copies)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 999 }), { maxLength: 300 }), (old) => {
        const window = new ReorderWindow<number>(3, 25);
        window.push(1000, 1000);
        // Late numbers in any order, each repeated: a run needs each to be above the one before.
        const seqs = old.flatMap((n) => [n, n]);
        let restarted = 0;
        for (const seq of seqs) restarted += window.push(seq, seq).length;
        const longestRun = longestFollowingRun(seqs, 3);
        expect(window.restarts > 0).toBe(longestRun >= 25);
        if (longestRun < 25) expect(restarted).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });
});

/** The longest run of numbers each above the one before by at most `capacity + 1`. */
function longestFollowingRun(seqs: readonly number[], capacity: number): number {
  let longest = 0;
  let run = 0;
  let last = -1;
  for (const seq of seqs) {
    run = run > 0 && seq > last && seq <= last + capacity + 1 ? run + 1 : 1;
    last = seq;
    longest = Math.max(longest, run);
  }
  return longest;
}

// ---- deserialize fuzz -----------------------------------------------------------------------------

const MAX_MESSAGE_BYTES = 4096;
const REASONS = new Set(["oversized", "malformed", "unknown-type", "invalid"]);

const base64 = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString("base64")),
  fc.string({ maxLength: 60 }),
  fc.constantFrom("", "====", "AAA", "//8=", "not base64!"),
);
const number = fc.oneof(
  fc.integer({ min: 0, max: 50 }).map(String),
  fc.integer({ min: 0, max: 50 }),
  fc.constantFrom("-1", "1e3", "", "9".repeat(30), -5, 1.5, Number.MAX_SAFE_INTEGER, null, "x"),
);
const anyJson = fc.jsonValue({ maxDepth: 3 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const telnyxMessage = fc.oneof(
  fc.record({
    event: fc.constant("start"),
    sequence_number: maybe(number),
    stream_id: maybe(fc.oneof(fc.uuid(), anyJson)),
    start: maybe(
      fc.record({
        call_control_id: maybe(fc.oneof(fc.string({ maxLength: 20 }), anyJson)),
        from: maybe(anyJson),
        to: maybe(anyJson),
        custom_parameters: maybe(anyJson),
        media_format: maybe(
          fc.record({
            encoding: maybe(
              fc.oneof(fc.constantFrom("PCMU", "PCMA", "L16", "G722", "OPUS", "AMR-WB"), anyJson),
            ),
            sample_rate: maybe(fc.oneof(fc.constantFrom(8000, 16000, 24000, 0, -1, 1e9), anyJson)),
            channels: maybe(fc.oneof(fc.constantFrom(1, 2), anyJson)),
          }),
        ),
      }),
    ),
  }),
  fc.record({
    event: fc.constant("media"),
    sequence_number: maybe(number),
    stream_id: maybe(fc.uuid()),
    media: maybe(
      fc.oneof(
        fc.record({
          track: maybe(fc.constantFrom("inbound", "outbound", "both")),
          chunk: maybe(number),
          timestamp: maybe(number),
          payload: maybe(fc.oneof(base64, anyJson)),
        }),
        anyJson,
      ),
    ),
  }),
  fc.record({ event: fc.constant("dtmf"), sequence_number: maybe(number), dtmf: maybe(anyJson) }),
  fc.record({
    event: fc.constant("dtmf"),
    sequence_number: maybe(number),
    dtmf: fc.record({ digit: fc.constantFrom("1", "#", "*", "A", "") }),
  }),
  fc.record({ event: fc.constant("mark"), sequence_number: maybe(number), mark: maybe(anyJson) }),
  fc.record({
    event: fc.constant("error"),
    sequence_number: maybe(number),
    payload: maybe(
      fc.record({
        code: maybe(fc.oneof(fc.integer({ min: 100000, max: 100100 }), fc.string({ maxLength: 30 }))),
        title: maybe(fc.string({ maxLength: 300 })),
        detail: maybe(fc.string({ maxLength: 600 })),
      }),
    ),
  }),
  fc.record({ event: fc.constant("stop"), sequence_number: maybe(number) }),
  fc.record({ event: fc.oneof(fc.string({ maxLength: 10 }), anyJson) }),
);

const wireMessage = fc.oneof(
  { weight: 8, arbitrary: telnyxMessage.map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constant("x".repeat(MAX_MESSAGE_BYTES + 1)) },
);

describe("TelnyxFrameSerializer.deserialize (fuzz)", () => {
  it("never throws; refuses with a reason and words; makes no frame larger than a message; keeps its state bounded", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("PCMU", "PCMA", "L16") as fc.Arbitrary<"PCMU" | "PCMA" | "L16">,
        fc.integer({ min: 0, max: 5 }),
        fc.array(wireMessage, { maxLength: 40 }),
        (codec, reorderWindow, messages) => {
          const serializer = new TelnyxFrameSerializer({
            inboundCodec: codec,
            reorderWindow,
            maxMessageBytes: MAX_MESSAGE_BYTES,
          });
          for (const message of messages) {
            const result = serializer.deserialize(message);
            if (!result.ok) {
              expect(result.error).toBeInstanceOf(FrameDeserializeError);
              expect(REASONS.has(result.error.reason)).toBe(true);
              expect(result.error.detail.length).toBeGreaterThan(10);
              continue;
            }
            for (const frame of result.frames) {
              if (frame instanceof InputAudioRawFrame) {
                // One byte of base64 text carries at most 6 bits: a sample takes at least one character.
                expect(frame.audio.length).toBeGreaterThan(0);
                expect(frame.audio.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
                expect(frame.numChannels).toBe(1);
                expect(frame.sampleRate).toBeGreaterThanOrEqual(8000);
                expect(frame.sampleRate).toBeLessThanOrEqual(48000);
              } else if (frame instanceof ErrorFrame) {
                expect(frame.error.message.length).toBeLessThan(2000);
              } else {
                expect(frame instanceof InputDTMFFrame || frame.constructor.name === "EndTaskFrame").toBe(
                  true,
                );
              }
            }
            const stats = serializer.reorderStats;
            expect(stats.held).toBeLessThanOrEqual(reorderWindow);
            expect(serializer.streamErrors.size).toBeLessThanOrEqual(16);
          }
          serializer.dispose();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("media numbered in any order (with copies and gaps) comes out as audio in strictly increasing order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.integer({ min: 2, max: 60 }), { maxLength: 80 }),
        fc.boolean(),
        (reorderWindow, seqs, byChunk) => {
          const serializer = new TelnyxFrameSerializer({ inboundCodec: "L16", reorderWindow });
          const start = {
            event: "start",
            ...(byChunk ? {} : { sequence_number: "1" }),
            stream_id: "s",
            start: { call_control_id: "v3:c", media_format: { encoding: "L16", sample_rate: 8000 } },
          };
          expect(serializer.deserialize(JSON.stringify(start))).toEqual({ ok: true, frames: [] });
          const heard: number[] = [];
          const take = (data: string): void => {
            const result = serializer.deserialize(data);
            expect(result.ok).toBe(true);
            if (!result.ok) return;
            for (const f of result.frames) if (f instanceof InputAudioRawFrame) heard.push(f.audio[0]!);
          };
          for (const seq of seqs) {
            // Its number, as the first sample (big-endian L16 on the wire).
            const payload = Buffer.alloc(4);
            payload.writeInt16BE(seq, 0);
            const number = byChunk ? { chunk: String(seq) } : {};
            take(
              JSON.stringify({
                event: "media",
                ...(byChunk ? {} : { sequence_number: String(seq) }),
                media: { track: "inbound", ...number, payload: payload.toString("base64") },
              }),
            );
            expect(serializer.reorderStats.held).toBeLessThanOrEqual(reorderWindow);
          }
          take(JSON.stringify({ event: "stop", sequence_number: "999" }));
          for (let i = 1; i < heard.length; i++) expect(heard[i]).toBeGreaterThan(heard[i - 1]!);
          const stats = serializer.reorderStats;
          expect(stats.held).toBe(0);
          expect(heard.length + stats.late + stats.duplicates).toBe(seqs.length);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
