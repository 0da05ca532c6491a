import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { convertChannels } from "../../src/audio/pcm.js";
import { createStreamResampler } from "../../src/audio/resampler.js";
import { ErrorFrame, InputAudioRawFrame, MemoryTransport } from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { concat } from "../audio/signals.js";
import { memoryLogger } from "../support/logger.js";
import { startTask } from "../support/task.js";

const RATES = [8_000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000] as const;
/** Rates an InputAudioRawFrame may carry but no resampler takes. */
const BAD_RATES = [500, 999, 800_000] as const;

interface Segment {
  rate: number;
  channels: number;
  /** Chunk sizes in frames (odd ones included). */
  chunks: number[];
  /** Hand the chunks over as InputAudioRawFrames through pushInput instead of pushAudio. */
  viaFrame: boolean;
}

const settings = fc.record({
  pipelineRate: fc.constantFrom(8_000, 16_000, 24_000, 48_000),
  pipelineChannels: fc.constantFrom(1, 2),
  segments: fc.array(
    fc.record({
      rate: fc.constantFrom(...RATES),
      channels: fc.constantFrom(1, 2, 3),
      chunks: fc.array(fc.integer({ min: 1, max: 1_500 }), { minLength: 1, maxLength: 8 }),
      viaFrame: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  bad: fc.array(fc.record({ before: fc.nat(), rate: fc.constantFrom(...BAD_RATES) }), { maxLength: 6 }),
});

/** A recognisable signal: each channel its own ramp-and-sine, continuing across chunks. */
function signal(frames: number, channels: number, from: number): Int16Array {
  const out = new Int16Array(frames * channels);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      out[f * channels + c] = Math.round(6_000 * Math.sin((from + f) / (7 + 3 * c)) + 500 * c);
    }
  }
  return out;
}

/**
 * The frames the transport must deliver: every run of audio that shares a resampler stream
 * (same rate, same channels into the resampler) gives exactly ceil(n × out / in) frames; audio
 * already at the pipeline rate gives its own frame count and leaves the stream alone.
 */
function expectedFrames(segments: Segment[], pipelineRate: number, pipelineChannels: number): number {
  let total = 0;
  let streamKey = "";
  let streamRate = 0;
  let streamFrames = 0;
  const closeStream = () => {
    if (streamFrames > 0) total += Math.ceil((streamFrames * pipelineRate) / streamRate);
    streamFrames = 0;
  };
  for (const s of segments) {
    const frames = s.chunks.reduce((a, b) => a + b, 0);
    if (s.rate === pipelineRate) {
      total += frames;
      continue;
    }
    const key = `${s.rate}:${Math.min(s.channels, pipelineChannels)}`;
    if (key !== streamKey) {
      closeStream();
      streamKey = key;
      streamRate = s.rate;
    }
    streamFrames += frames;
  }
  closeStream();
  return total;
}

/** What one whole-stream conversion makes of a single segment: the reference output. */
async function reference(whole: Int16Array, s: Segment, pipelineRate: number, outChannels: number) {
  if (s.rate === pipelineRate) return convertChannels(whole, s.channels, outChannels);
  const channels = Math.min(s.channels, outChannels);
  const before = s.channels > outChannels ? convertChannels(whole, s.channels, outChannels) : whole;
  const resampler = await createStreamResampler({ inRate: s.rate, outRate: pipelineRate, channels });
  const resampled = resampler.resample(before);
  resampler.dispose();
  return s.channels < outChannels ? convertChannels(resampled, s.channels, outChannels) : resampled;
}

describe("BaseInputTransport: properties over input settings and inputs", () => {
  it("loses and invents no sample beyond the resampler's documented delay, and says each problem once", async () => {
    await fc.assert(
      fc.asyncProperty(settings, async ({ pipelineRate, pipelineChannels, segments, bad }) => {
        const { logger, lines } = memoryLogger();
        const transport = new MemoryTransport({
          params: { audioInEnabled: true, audioInChannels: pipelineChannels },
        });
        const input = transport.input();
        const down = new FrameRecorder();
        const s = startTask([input, down], { logger, params: { audioInSampleRate: pipelineRate } });
        await s.whenStarted();

        // Hand everything over without waiting: the transport keeps the order itself.
        const pushes: Array<Promise<void>> = [];
        const chunkCount = segments.reduce((n, seg) => n + seg.chunks.length, 0);
        const badAt = bad.map((b) => ({ index: b.before % (chunkCount + 1), rate: b.rate }));
        let index = 0;
        const pushBad = () => {
          for (const b of badAt.filter((x) => x.index === index)) {
            pushes.push(input.pushInput(new InputAudioRawFrame(new Int16Array(160), b.rate, 1)));
          }
        };
        const wholes: Int16Array[] = [];
        for (const seg of segments) {
          let from = 0;
          const parts: Int16Array[] = [];
          for (const frames of seg.chunks) {
            pushBad();
            const audio = signal(frames, seg.channels, from);
            from += frames;
            parts.push(audio);
            pushes.push(
              seg.viaFrame
                ? input.pushInput(new InputAudioRawFrame(audio, seg.rate, seg.channels))
                : input.pushAudio(audio, seg.rate, seg.channels),
            );
            index++;
          }
          wholes.push(concat(parts));
        }
        pushBad();
        await Promise.all(pushes);
        await s.clock.runUntil(s.task.stopWhenDone());

        const frames = down.ofType(InputAudioRawFrame);
        expect(frames.every((f) => f.sampleRate === pipelineRate && f.numChannels === pipelineChannels)).toBe(
          true,
        );
        expect(frames.every((f) => f.audio.length > 0)).toBe(true);
        const out = concat(frames.map((f) => f.audio));
        expect(out.length / pipelineChannels).toBe(expectedFrames(segments, pipelineRate, pipelineChannels));
        if (segments.length === 1) {
          const expected = await reference(wholes[0]!, segments[0]!, pipelineRate, pipelineChannels);
          expect(Array.from(out)).toEqual(Array.from(expected));
        }

        // Bad frames: dropped and counted, each rate reported once (one ErrorFrame, one error line).
        expect(input.droppedAudioChunks).toBe(bad.length);
        const errors = s.errors.filter((e): e is ErrorFrame => e instanceof ErrorFrame);
        const distinct = new Set(bad.map((b) => b.rate));
        expect(errors).toHaveLength(distinct.size);
        for (const rate of distinct) {
          const said = lines.filter(
            (l) => l.message.includes(`at ${rate} Hz`) && !/more times?/.test(l.message),
          );
          expect(said.length).toBeLessThanOrEqual(1);
        }
        expect(s.errors.filter((e) => !/cannot be resampled/.test(e.error.message))).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
