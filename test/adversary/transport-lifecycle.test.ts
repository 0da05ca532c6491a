/**
 * Third pass, the output transport's life: an interruption at every point of it (before start,
 * during open, mid-chunk, during the end drain, after the sink closed), end and cancel racing,
 * end silence at its extremes. Public API only. Holes are `it.fails` with the measured numbers in
 * a comment; `held:` tests are attacks that held.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BaseOutputTransport,
  EndFrame,
  InterruptionFrame,
  type OutputAudioRawFrame,
  type OutputOpenInfo,
  TTSAudioRawFrame,
  TextFrame,
  WavFileTransport,
  readWavFile,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { constant } from "../support/audio.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput, startTask } from "../support/task.js";

const RATE = 24_000;

/** An output whose open() takes `openMs` of task-clock time; records the levels it writes. */
class SlowOpenOutput extends BaseOutputTransport {
  readonly levels: number[] = [];
  opened = false;
  closes: string[] = [];
  constructor(private readonly openMs: number) {
    super(
      { audioOutEnabled: true, audioOutSampleRate: RATE, audioOutEndSilenceMs: 0 },
      { name: "slow-open" },
    );
  }
  protected override async open(info: OutputOpenInfo): Promise<void> {
    await this.clock.waitUntil(this.clock.now() + this.openMs, info.signal);
    this.opened = true;
  }
  protected override close(reason: string): void {
    this.closes.push(reason);
  }
  protected override writeAudio(frame: OutputAudioRawFrame): Promise<boolean> {
    this.levels.push(frame.audio[0]!);
    return Promise.resolve(true);
  }
}

describe("output transport: interruption at every point of its life (adversary, third pass)", () => {
  it("held: an interruption queued before the task has started plays nothing stale and breaks nothing", async () => {
    const s = startOutput(RATE, { audioOutEndSilenceMs: 0 });
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE, 1111), RATE));
    s.task.queueFrame(new InterruptionFrame());
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE, 2222), RATE));
    await s.whenStarted();
    await s.clock.advance(1_000);
    const levels = s.output.written.map((w) => w.frame.audio[0]);
    expect(levels.filter((l) => l === 1111)).toHaveLength(0);
    expect(levels.filter((l) => l === 2222)).toHaveLength(10);
    expect(s.errors).toHaveLength(0);
    expect((await s.clock.runUntil(s.task.stopWhenDone()))?.how).toBe("ended");
  });

  it("held: an interruption while open() is pending drops the audio before it, plays the audio after it", async () => {
    const output = new SlowOpenOutput(500);
    const down = new FrameRecorder();
    const s = startTask([output, down]);
    await s.clock.advance(100);
    expect(output.opened).toBe(false);
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE, 1111), RATE));
    await s.clock.advance(100);
    s.task.queueFrame(new InterruptionFrame());
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE, 2222), RATE));
    await s.clock.advance(1_500);
    expect(output.opened).toBe(true);
    expect(output.levels.filter((l) => l === 1111)).toHaveLength(0);
    expect(output.levels.filter((l) => l === 2222)).toHaveLength(10);
    expect(s.errors).toHaveLength(0);
    expect((await s.clock.runUntil(s.task.stopWhenDone()))?.how).toBe("ended");
    expect(output.closes).toEqual(["end"]);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("held: cancel while open() is pending closes once with 'cancel' and leaves no timer", async () => {
    const output = new SlowOpenOutput(60_000);
    const s = startTask([output]);
    await s.clock.advance(100);
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
    const outcome = await s.clock.runUntil(s.task.cancel(), { maxMs: 5_000 });
    expect(outcome?.how).toBe("cancelled");
    expect(output.closes).toEqual(["cancel"]);
    expect(output.levels).toHaveLength(0);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("held: an interruption in the middle of a slow write lets at most that chunk out", async () => {
    let writing = false;
    const s = startOutput(
      RATE,
      { audioOutEndSilenceMs: 0 },
      {
        sink: async () => {
          writing = true;
          await s.clock.waitUntil(s.clock.now() + 30);
          writing = false;
          return true;
        },
      },
    );
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(2_000, RATE, 1111), RATE));
    await s.clock.runUntil(() => s.output.written.length >= 5 && writing);
    const before = s.output.written.length;
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(1_000);
    const staleAfter = s.output.written.slice(before).filter((w) => w.frame.audio[0] === 1111).length;
    expect(staleAfter).toBe(0); // the chunk in flight was recorded before the interruption
    expect(s.output.clears.get("")).toBe(1);
    await s.clock.runUntil(s.task.cancel());
  });

  it("held: an interruption during the end drain drops the queued audio and the task still ends by its EndFrame, soon", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer, audioOutEndSilenceMs: 400 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(10_000, RATE, 1000), RATE));
    const ending = s.task.stopWhenDone();
    await s.clock.advance(500);
    // The task takes no frames once it is ending: the interruption comes from inside the pipeline.
    void s.up.pushFrame(new InterruptionFrame());
    const t0 = s.clock.now();
    const outcome = await s.clock.runUntil(ending, { maxMs: 10_000 });
    expect(outcome?.how).toBe("ended");
    expect(s.clock.now() - t0).toBeLessThanOrEqual(400 + 3 * 40); // the end silence, not the 9.5 s dropped
    expect(s.down.frames.at(-1)).toBeInstanceOf(EndFrame);
    expect(mixer.stopped).toBe(1);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("held: interruptions and audio after the sink closed make no client call and no error", async () => {
    const s = startOutput(RATE, { audioOutEndSilenceMs: 0 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
    await s.clock.advance(200);
    s.transport.closeSink("client left");
    const writes = s.output.writeCalls;
    for (let i = 0; i < 50; i++) {
      s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
      s.task.queueFrame(new InterruptionFrame());
      s.task.queueFrame(new TextFrame(`after${i}`));
      await s.clock.advance(20); // (an interruption drops the text frames queued before it)
    }
    await s.clock.advance(2_000);
    expect(s.output.writeCalls).toBe(writes);
    expect(s.output.clears.get("") ?? 0).toBe(0);
    expect(s.down.ofType(TextFrame)).toHaveLength(50); // frames still go on, in order
    expect(s.errors).toHaveLength(0);
    await s.clock.runUntil(s.task.cancel());
  });
});

describe("output transport: end and cancel racing (adversary, third pass)", () => {
  it("held: cancel in the same turn as stopWhenDone ends the task now, with nothing left running", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer, audioOutEndSilenceMs: 3_600_000 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(5_000, RATE), RATE));
    const ending = s.task.stopWhenDone();
    const cancelling = s.task.cancel("race");
    const t0 = s.clock.now();
    await s.clock.runUntil(Promise.all([ending, cancelling]), { maxMs: 5_000 });
    const [e, c] = await Promise.all([ending, cancelling]);
    expect(c.how).toBe("cancelled");
    expect(e.how).toBe("cancelled");
    expect(s.clock.now() - t0).toBeLessThanOrEqual(2_000);
    const writes = s.output.writeCalls;
    await s.clock.advance(2_000);
    expect(s.output.writeCalls).toBe(writes);
    expect(mixer.stopped).toBe(1);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("held: cancel during an hour of end silence stops at once", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer, audioOutEndSilenceMs: 3_600_000 });
    await s.whenStarted();
    const ending = s.task.stopWhenDone();
    await s.clock.advance(30_000);
    expect(s.task.hasFinished()).toBe(false); // still playing the end silence
    const writes = s.output.writeCalls;
    expect(writes).toBeGreaterThanOrEqual(740);
    const outcome = await s.clock.runUntil(s.task.cancel("enough"), { maxMs: 5_000 });
    expect(outcome?.how).toBe("cancelled");
    expect((await ending).how).toBe("cancelled");
    expect(s.output.writeCalls - writes).toBeLessThanOrEqual(1);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("held: a 10-minute end silence is played in full and the task ends by its EndFrame (the watchdog is fed)", async () => {
    const s = startOutput(RATE, { audioOutEndSilenceMs: 600_000 }, { recordLimit: 0 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
    const t0 = s.clock.now();
    const outcome = await s.clock.runUntil(s.task.stopWhenDone(), { maxMs: 700_000 });
    expect(outcome?.how).toBe("ended");
    expect(s.clock.now() - t0).toBeGreaterThanOrEqual(600_360); // 10 chunks from t0, then the silence
    expect(s.clock.now() - t0).toBeLessThanOrEqual(600_400 + 200);
    expect(s.output.writeCalls).toBe(10 + 15_000);
    expect(s.timeouts).toHaveLength(0);
  }, 60_000);

  it("held: audioOutEndSilenceMs = 0 with an active mixer ends right after the last chunk", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer, audioOutEndSilenceMs: 0 });
    await s.whenStarted();
    await s.clock.advance(1_000);
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE, 1000), RATE));
    const t0 = s.clock.now();
    const outcome = await s.clock.runUntil(s.task.stopWhenDone());
    expect(outcome?.how).toBe("ended");
    expect(s.clock.now() - t0).toBeLessThanOrEqual(400 + 80);
    expect(s.output.written.at(-1)!.frame.audio[0]).toBe(1100); // the last chunk is audio, not silence
    expect(mixer.stopped).toBe(1);
  });
});

describe("WAV output under interruption and cancel (adversary, third pass)", () => {
  // held: interruptions storm a WAV output, then a cancel lands mid-speech: the file is a valid
  // WAV whose header sizes match the bytes on disk, holding exactly the chunks the output wrote.
  it("held: a WAV output interrupted 100 times and cancelled mid-speech leaves a consistent file", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "vp-adv3-")), "out.wav");
    const transport = new WavFileTransport({
      outputPath: path,
      params: { audioOutEnabled: true, audioOutSampleRate: RATE, audioOutEndSilenceMs: 0 },
    });
    const output = transport.output();
    const s = startTask([output]);
    await s.whenStarted();
    for (let i = 0; i < 100; i++) {
      s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE, 1000 + i), RATE));
      await s.clock.advance(30);
      s.task.queueFrame(new InterruptionFrame());
      await s.clock.advance(10);
    }
    s.task.queueFrame(new TTSAudioRawFrame(constant(2_000, RATE, 5_000), RATE));
    await s.clock.advance(1_000);
    const written = output.sender()!.chunksWritten;
    const outcome = await s.clock.runUntil(s.task.cancel(), { maxMs: 5_000 });
    expect(outcome?.how).toBe("cancelled");
    const bytes = readFileSync(path);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(40, true)).toBe(bytes.length - 44); // data size in the header = data on disk
    expect(view.getUint32(4, true)).toBe(bytes.length - 8);
    const wav = await readWavFile(path);
    expect(wav.audio.length).toBe(written * 960);
    expect(s.errors).toHaveLength(0);
  });
});
