import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWavFile, writeWav, writeWavFile } from "../../src/audio/wav.js";
import { interleave, rms } from "../../src/audio/pcm.js";
import {
  DEFAULT_TRANSPORT_PARAMS,
  type ErrorFrame,
  type Frame,
  type Logger,
  FrameDirection,
  FrameProcessor,
  InputAudioRawFrame,
  InvalidOptionError,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  SoundfileMixer,
  type TransportParams,
  VirtualClock,
  WavFileTransport,
  type WavFileTransportOptions,
  silentLogger,
} from "../../src/index.js";
import { sine, sineFitSnrDb } from "../audio/signals.js";
import { memoryLogger } from "../support/logger.js";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "voicepipe-wav-transport-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function tempPath(name: string): string {
  return path.join(dir, `${++fileCount}-${name}`);
}

/** The bot of these tests: plays back what it hears (each InputAudioRawFrame goes out as output audio). */
class Echo extends FrameProcessor {
  heard = 0;
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame instanceof InputAudioRawFrame && direction === FrameDirection.DOWNSTREAM) {
      this.heard++;
      return this.pushFrame(
        new OutputAudioRawFrame(frame.audio, frame.sampleRate, frame.numChannels),
        direction,
      );
    }
    return super.processFrame(frame, direction);
  }
}

function setup(
  options: WavFileTransportOptions,
  taskOptions: { idleTimeoutMs?: number | null; logger?: Logger } = {},
) {
  const clock = new VirtualClock();
  const files = new WavFileTransport(options);
  const echo = new Echo();
  const processors: FrameProcessor[] = [];
  if (options.inputPath) processors.push(files.input());
  processors.push(echo);
  if (options.outputPath) processors.push(files.output());
  const task = new PipelineTask(new Pipeline(processors), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
    ...taskOptions,
  });
  const errors: ErrorFrame[] = [];
  task.on("pipelineError", (e) => void errors.push(e));
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  return { clock, files, echo, task, errors, isStarted: () => started };
}

/** Reads the sizes a WAV header declares, and the file's real size. */
function headerSizes(file: string): { riff: number; data: number; fileBytes: number } {
  const bytes = fs.readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect(bytes.subarray(0, 4).toString("ascii")).toBe("RIFF");
  expect(bytes.subarray(36, 40).toString("ascii")).toBe("data");
  return { riff: view.getUint32(4, true), data: view.getUint32(40, true), fileBytes: bytes.length };
}

function chunkSamples(params: Partial<TransportParams>, rate: number): number {
  const tens = params.audioOut10msChunks ?? DEFAULT_TRANSPORT_PARAMS.audioOut10msChunks;
  return (rate / 100) * tens;
}

describe("WavFileTransport: file in, pipeline, file out", () => {
  it("plays a 16 kHz file through the pipeline into a WAV file with a correct header, then ends by itself", async () => {
    const inputPath = tempPath("in-16k.wav");
    const outputPath = tempPath("out.wav");
    const input = sine(440, 16_000, 2, 8_000);
    await writeWavFile(inputPath, { audio: input, sampleRate: 16_000 });
    const params = { audioOutSampleRate: 16_000 };
    const s = setup({ inputPath, outputPath, params });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.task.hasFinished()).toBe(true);
    expect(s.errors).toEqual([]);
    expect(s.files.input().framesPushed).toBe(100); // 2 s in 20 ms frames
    expect(s.echo.heard).toBe(100);

    const out = await readWavFile(outputPath);
    expect(out.sampleRate).toBe(16_000);
    expect(out.numChannels).toBe(1);
    const sizes = headerSizes(outputPath);
    expect(sizes.data).toBe(sizes.fileBytes - 44);
    expect(sizes.riff).toBe(sizes.fileBytes - 8);
    expect(sizes.data).toBe(s.files.output().bytesWritten);
    expect(out.audio.length * 2).toBe(sizes.data);

    // Same rate everywhere: the input comes out sample for sample, then the end silence.
    expect(Array.from(out.audio.subarray(0, input.length))).toEqual(Array.from(input));
    const chunk = chunkSamples(params, 16_000);
    const silence = Math.ceil((DEFAULT_TRANSPORT_PARAMS.audioOutEndSilenceMs * 16) / chunk) * chunk;
    const tail = out.audio.subarray(input.length);
    expect(tail.length).toBeGreaterThanOrEqual(silence);
    expect(tail.length).toBeLessThan(silence + chunk);
    expect(tail.every((v) => v === 0)).toBe(true);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("resamples a 44.1 kHz input to the pipeline rate, and the tone survives to the output file", async () => {
    const inputPath = tempPath("in-44k.wav");
    const outputPath = tempPath("out.wav");
    const seconds = 1.5;
    await writeWavFile(inputPath, { audio: sine(1_000, 44_100, seconds, 10_000), sampleRate: 44_100 });
    const params = { audioOutSampleRate: 16_000, audioOutEndSilenceMs: 400 };
    const s = setup({ inputPath, outputPath, params });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors).toEqual([]);
    const out = await readWavFile(outputPath);
    expect(out.sampleRate).toBe(16_000);
    const chunk = chunkSamples(params, 16_000);
    const expected = seconds * 16_000 + (400 * 16_000) / 1000;
    // Within the resampler's delay and one chunk of padding.
    expect(out.audio.length).toBeGreaterThan(expected - chunk);
    expect(out.audio.length).toBeLessThanOrEqual(expected + chunk);
    const body = out.audio.subarray(800, seconds * 16_000 - 800);
    expect(sineFitSnrDb(body, 1_000, 16_000)).toBeGreaterThan(40);
    expect(rms(body) * Math.SQRT2).toBeGreaterThan(9_800);
    expect(rms(body) * Math.SQRT2).toBeLessThan(10_200);
    expect(rms(out.audio.subarray(out.audio.length - (300 * 16_000) / 1000))).toBe(0);
  });

  it("with a SoundfileMixer, the end silence carries the background sound", async () => {
    const inputPath = tempPath("in-16k.wav");
    const outputPath = tempPath("out.wav");
    const backgroundPath = tempPath("background-24k.wav");
    await writeWavFile(inputPath, { audio: sine(440, 16_000, 1, 8_000), sampleRate: 16_000 });
    // A 24 kHz background, so the mixer also has to resample it to the 16 kHz output.
    await writeWavFile(backgroundPath, { audio: sine(250, 24_000, 0.4, 10_000), sampleRate: 24_000 });
    const mixer = new SoundfileMixer({ soundFiles: { hum: backgroundPath }, volume: 0.5 });
    const endSilenceMs = 1_000;
    const s = setup({
      inputPath,
      outputPath,
      params: { audioOutSampleRate: 16_000, audioOutMixer: mixer, audioOutEndSilenceMs: endSilenceMs },
    });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors).toEqual([]);
    expect(mixer.active).toBe(false); // stopped with the output
    const out = await readWavFile(outputPath);
    const sizes = headerSizes(outputPath);
    expect(sizes.data).toBe(sizes.fileBytes - 44);
    // The last second is the end silence, mixed: the 250 Hz hum at half volume.
    const tail = out.audio.subarray(out.audio.length - (endSilenceMs * 16_000) / 1000);
    expect(sineFitSnrDb(tail, 250, 16_000)).toBeGreaterThan(30);
    expect(rms(tail) * Math.SQRT2).toBeGreaterThan(4_800);
    expect(rms(tail) * Math.SQRT2).toBeLessThan(5_200);
    // While the bot talks, the hum is mixed under its audio.
    const middle = out.audio.subarray(4_000, 12_000);
    expect(sineFitSnrDb(middle, 440, 16_000)).toBeLessThan(10);
    expect(rms(middle)).toBeGreaterThan(rms(tail));
  });

  it("plays a stereo file into a mono pipeline: both channels averaged, no error, the speech reaches the output", async () => {
    // Regression (issue 6): stereo input reached the mono output as 2-channel audio, every chunk
    // was refused with an error, and the output file held only the end silence.
    const inputPath = tempPath("in-stereo-44k.wav");
    const outputPath = tempPath("out.wav");
    const left = sine(500, 44_100, 1, 12_000);
    const right = sine(500, 44_100, 1, 4_000); // in phase: the average is a 500 Hz tone of 8000
    await writeWavFile(inputPath, { audio: interleave([left, right]), sampleRate: 44_100, numChannels: 2 });
    const params = { audioOutSampleRate: 16_000, audioOutEndSilenceMs: 200 };
    const s = setup({ inputPath, outputPath, params });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors).toEqual([]);
    expect(s.echo.heard).toBe(50);
    const out = await readWavFile(outputPath);
    expect(out.numChannels).toBe(1);
    const body = out.audio.subarray(800, 16_000 - 800);
    expect(sineFitSnrDb(body, 500, 16_000)).toBeGreaterThan(40);
    expect(rms(body) * Math.SQRT2).toBeGreaterThan(7_800);
    expect(rms(body) * Math.SQRT2).toBeLessThan(8_200);
  });

  it("runs audioInFilter at the pipeline's rate, on the resampled input file", async () => {
    const inputPath = tempPath("in-48k.wav");
    await writeWavFile(inputPath, { audio: sine(440, 48_000, 0.2, 8_000), sampleRate: 48_000 });
    const startedAt: number[] = [];
    const chunkLengths: number[] = [];
    const filter = {
      enabled: true,
      start: async (rate: number) => void startedAt.push(rate),
      filter: (chunk: Int16Array) => {
        chunkLengths.push(chunk.length);
        return chunk;
      },
      stop: async () => {},
    };
    const s = setup({ inputPath, params: { audioInFilter: filter } });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    // 20 ms frames of the 48 kHz file reach the filter resampled to the pipeline's 16 kHz.
    expect(startedAt).toEqual([16_000]);
    const total = chunkLengths.reduce((a, b) => a + b, 0);
    expect(Math.abs(total - 0.2 * 16_000)).toBeLessThanOrEqual(64);
    expect(Math.max(...chunkLengths)).toBeLessThanOrEqual((16_000 * 20) / 1000 + 1);
  });

  it("a cancelled task still leaves a WAV file whose header matches what was written", async () => {
    const inputPath = tempPath("in-16k.wav");
    const outputPath = tempPath("out.wav");
    await writeWavFile(inputPath, { audio: sine(440, 16_000, 3, 8_000), sampleRate: 16_000 });
    const s = setup({ inputPath, outputPath, params: { audioOutSampleRate: 16_000 } });
    const done = s.task.run();
    await s.clock.runUntil(() => s.files.output().bytesWritten >= 32_000, { maxMs: 60_000 });
    await s.clock.runUntil(s.task.cancel("test"), { maxMs: 10_000 });
    await done;
    await s.clock.settle();
    const written = s.files.output().bytesWritten;
    expect(written).toBeGreaterThanOrEqual(32_000);
    expect(written).toBeLessThan(96_000); // stopped well before the 3 s of input
    const sizes = headerSizes(outputPath);
    expect(sizes.data).toBe(written);
    expect(sizes.fileBytes).toBe(44 + written);
    expect((await readWavFile(outputPath)).audio.length).toBe(written / 2);
    expect(s.clock.pendingTimers).toBe(0);
  });
});

describe("WavFileTransport: bad setup", () => {
  it("reports a missing input file with an error naming the path", async () => {
    const inputPath = path.join(dir, "does-not-exist.wav");
    const s = setup({ inputPath, outputPath: tempPath("out.wav"), params: { audioOutSampleRate: 16_000 } });
    const done = s.task.run();
    await s.clock.runUntil(() => s.errors.length > 0, { maxMs: 60_000 });
    expect(s.errors.map((e) => e.error.message).join("\n")).toContain(inputPath);
    expect(s.files.input().framesPushed).toBe(0);
    await s.clock.runUntil(s.task.cancel("test"), { maxMs: 10_000 });
    await done;
  });

  it("ends the task by itself when the input file is missing", async () => {
    const inputPath = path.join(dir, "also-missing.wav");
    const s = setup({ inputPath, outputPath: tempPath("out.wav"), params: { audioOutSampleRate: 16_000 } });
    const done = s.task.run();
    try {
      await s.clock.runUntil(done, { maxMs: 60_000 });
    } finally {
      if (!s.task.hasFinished()) await s.clock.runUntil(s.task.cancel("test cleanup"), { maxMs: 10_000 });
    }
  });

  it("reports a missing input file once: one fatal ErrorFrame, one log line from the input", async () => {
    const inputPath = path.join(dir, "missing-once.wav");
    const { logger, lines } = memoryLogger();
    const s = setup(
      { inputPath, outputPath: tempPath("out.wav"), params: { audioOutSampleRate: 16_000 } },
      { logger },
    );
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]!.fatal).toBe(true);
    expect(s.errors[0]!.error.message).toBe(
      `wav-file-input could not open its input: WAV file not found: ${inputPath}; check the path (relative paths resolve from ${process.cwd()})`,
    );
    expect(lines.filter((l) => l.fields?.processor === "wav-file-input")).toHaveLength(1);
  });

  it("says a directory given as inputPath is a directory, naming it, and ends the task", async () => {
    // Regression (issue 6): a raw "EISDIR: illegal operation on a directory, read" without the path.
    const inputPath = tempPath("a-directory.wav");
    fs.mkdirSync(inputPath);
    const s = setup({ inputPath, outputPath: tempPath("out.wav"), params: { audioOutSampleRate: 16_000 } });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors.map((e) => [e.fatal, e.error.message])).toEqual([
      [
        true,
        `wav-file-input could not open its input: cannot read WAV file ${inputPath}: it is a directory; give the path of a .wav file`,
      ],
    ]);
    expect(s.files.input().framesPushed).toBe(0);
  });

  it("plays a truncated input file as far as it goes, with one warning naming the file and what is missing", async () => {
    // Regression (issue 6): a truncated file was accepted silently.
    const inputPath = tempPath("truncated.wav");
    const outputPath = tempPath("out.wav");
    const whole = writeWav({ audio: sine(440, 16_000, 2, 8_000), sampleRate: 16_000 });
    fs.writeFileSync(inputPath, whole.subarray(0, 44 + 2 * 16_000 * 0.5)); // 0.5 s of the 2 s announced
    const { logger, lines } = memoryLogger();
    const s = setup(
      { inputPath, outputPath, params: { audioOutSampleRate: 16_000, audioOutEndSilenceMs: 0 } },
      { logger },
    );
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors).toEqual([]);
    expect(s.files.input().framesPushed).toBe(25);
    const warnings = lines.filter((l) => l.level === "warn");
    expect(warnings.map((l) => l.message)).toEqual([
      `wav-file-input: ${inputPath} is truncated: its header announces 2.000 s of audio but only 0.500 s is there ` +
        "(1.500 s missing); playing what is there",
    ]);
    expect((await readWavFile(outputPath)).audio.length).toBeGreaterThanOrEqual(8_000);
  });

  it.each([
    [
      "a directory that does not exist",
      () => path.join(dir, "no-such-dir", "out.wav"),
      /its directory does not exist/,
    ],
    ["a directory", () => dir, /it is a directory/],
    ["a path under a file", () => path.join(tempPath("a-file"), "out.wav"), /a part of the path is a file/],
  ])(
    "refuses %s as outputPath at the start, before any input is processed",
    async (_what, makePath, reason) => {
      // Regression (issue 6): the open failure was not fatal, so the whole input was processed and
      // the task crashed at the end.
      const inputPath = tempPath("in.wav");
      await writeWavFile(inputPath, { audio: sine(440, 16_000, 3, 8_000), sampleRate: 16_000 });
      const outputPath = makePath();
      if (outputPath.includes("a-file")) fs.writeFileSync(path.dirname(outputPath), "not a directory");
      const s = setup({ inputPath, outputPath, params: { audioOutSampleRate: 16_000 } });
      await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
      expect(s.errors).toHaveLength(1);
      expect(s.errors[0]!.fatal).toBe(true);
      expect(s.errors[0]!.error.message).toContain(`cannot write WAV file ${outputPath}: `);
      expect(s.errors[0]!.error.message).toMatch(reason);
      expect(s.files.input().framesPushed).toBe(0);
      expect(s.echo.heard).toBe(0);
      expect(s.clock.now()).toBeLessThan(1_000);
    },
  );

  it("plays the input only once the whole pipeline has started (a processor still connecting holds playback back)", async () => {
    const inputPath = tempPath("in.wav");
    await writeWavFile(inputPath, { audio: sine(440, 16_000, 0.4, 8_000), sampleRate: 16_000 });
    /** A processor whose start takes 500 ms of task-clock time (a service connecting). */
    class SlowStart extends FrameProcessor {
      protected override async start(): Promise<void> {
        await this.clock.sleep(500);
      }
    }
    const clock = new VirtualClock();
    const files = new WavFileTransport({
      inputPath,
      outputPath: tempPath("out.wav"),
      params: { audioOutSampleRate: 16_000, audioOutEndSilenceMs: 0 },
    });
    const echo = new Echo();
    const task = new PipelineTask(new Pipeline([files.input(), echo, new SlowStart(), files.output()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    await clock.advance(450); // SlowStart is still starting: the input must not play
    expect(files.input().framesPushed).toBe(0);
    expect(echo.heard).toBe(0);
    await clock.runUntil(done, { maxMs: 60_000 });
    expect(files.input().framesPushed).toBe(20);
  });

  it("refuses an input file at a rate no resampler takes, naming the file, instead of stopping silently", async () => {
    const inputPath = tempPath("in-500hz.wav");
    await writeWavFile(inputPath, { audio: sine(50, 500, 1, 8_000), sampleRate: 500 });
    const s = setup({ inputPath, outputPath: tempPath("out.wav"), params: { audioOutSampleRate: 16_000 } });
    await s.clock.runUntil(s.task.run(), { maxMs: 60_000 });
    expect(s.errors.map((e) => [e.fatal, e.error.message])).toEqual([
      [true, expect.stringContaining(`${inputPath} is sampled at 500 Hz, which cannot be resampled`)],
    ]);
    expect(s.files.input().framesPushed).toBe(0);
  });

  it("refuses an inputFrameMs that is not a positive number of ms", () => {
    expect(() => new WavFileTransport({ inputPath: "x.wav", inputFrameMs: 0 })).toThrow(
      /inputFrameMs must be a number of ms from 1 to 1000 \(got 0\)/,
    );
    expect(() => new WavFileTransport({ inputPath: "x.wav", inputFrameMs: Number.NaN })).toThrow(
      InvalidOptionError,
    );
  });

  it("refuses to be built with neither an input nor an output path", () => {
    expect(() => new WavFileTransport({})).toThrow(InvalidOptionError);
    expect(() => new WavFileTransport({})).toThrow(/needs an inputPath, an outputPath, or both/);
  });

  it("says which side is missing when input() or output() was not configured", () => {
    const onlyOut = new WavFileTransport({ outputPath: path.join(dir, "x.wav") });
    expect(() => onlyOut.input()).toThrow(/no inputPath/);
    expect(onlyOut.output()).toBe(onlyOut.output());
    const onlyIn = new WavFileTransport({ inputPath: path.join(dir, "y.wav") });
    expect(() => onlyIn.output()).toThrow(/no outputPath/);
  });
});
