/**
 * The seed bug and its family, as tests: with a mixer
 * on, ending or cancelling a pipeline while a service is slow to disconnect made Pipecat's
 * output transport generate silence endlessly until memory ran out. Each scenario measures its
 * bounds inside the test.
 */
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import {
  CancelFrame,
  type Clock,
  EndFrame,
  type Frame,
  FrameProcessor,
  type FrameProcessorOptions,
  InterruptionFrame,
  MemoryTransport,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  type PipelineTaskOptions,
  SystemClock,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { activeResources, settledHeap } from "../support/gc.js";
import { constant } from "../support/audio.js";
import { CountingMixer } from "../support/mixers.js";

const RATE = 24_000;
const CHUNK_MS = 40;

/** A service that takes `endMs` to disconnect on EndFrame and, optionally, never finishes on CancelFrame. */
class SlowToDisconnect extends FrameProcessor {
  constructor(
    private readonly endMs: number,
    private readonly hangOnCancel: boolean,
    options: FrameProcessorOptions = { name: "slow-stt" },
  ) {
    super(options);
  }
  protected override end(): Promise<void> {
    return this.clock.sleep(this.endMs);
  }
  protected override cancel(): Promise<void> | void {
    if (this.hangOnCancel) return new Promise<void>(() => {});
  }
}

/** Records when each frame passed, on the task clock. */
class TimedRecorder extends FrameProcessor {
  readonly seen: Array<{ frame: Frame; atMs: number }> = [];
  constructor() {
    super({ direct: true, name: "after-output" });
  }
  override queueFrame(frame: Frame, direction: Parameters<FrameProcessor["queueFrame"]>[1]) {
    this.seen.push({ frame, atMs: this.clock.now() });
    return super.queueFrame(frame, direction);
  }
}

function build(
  clock: Clock,
  options: {
    endMs?: number;
    hangOnCancel?: boolean;
    task?: Partial<PipelineTaskOptions>;
    endSilenceMs?: number;
  },
) {
  const mixer = new CountingMixer(clock);
  // The sink the way a socket behaves: once the client is gone, every write returns false at
  // once, and nobody tells the transport (the hard case: it learns only from the writes).
  const sink = { open: true };
  const transport = new MemoryTransport({
    params: {
      audioOutEnabled: true,
      audioOutSampleRate: RATE,
      audioOutMixer: mixer,
      audioOutEndSilenceMs: options.endSilenceMs ?? 2_000,
    },
    recordLimit: 0,
    sink: () => sink.open,
  });
  const recorder = new TimedRecorder();
  const slow = new SlowToDisconnect(options.endMs ?? 3_000, options.hangOnCancel ?? false);
  const task = new PipelineTask(new Pipeline([slow, transport.output(), recorder]), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
    ...options.task,
  });
  const finishedBy: Frame[] = [];
  task.on("pipelineFinished", (f) => void finishedBy.push(f));
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  const done = task.run();
  return {
    mixer,
    sink,
    transport,
    output: transport.output(),
    recorder,
    task,
    finishedBy,
    done,
    isStarted: () => started,
  };
}

describe("seed scenario 1: stopWhenDone with a mixer, a slow disconnect upstream and a sink that closes", () => {
  it("ends in time, never spins, pushes nothing after the close, and keeps heap and event loop flat", async () => {
    const clock = new SystemClock();
    const s = build(clock, { endMs: 3_000 });
    await new Promise<void>((r) => s.task.on("pipelineStarted", r));
    const heapBefore = await settledHeap();
    s.task.queueFrame(new TTSAudioRawFrame(constant(1_000, RATE), RATE)); // 1 s of queued speech
    await clock.sleep(200);
    // How busy the event loop was while the task ended: a spinning output (the seed bug) keeps it
    // near 1; an output that stopped leaves it near 0. A ratio, not a latency, so another process
    // taking the CPU (CI runs test files side by side) cannot fail it the way a 50 ms pause did.
    const busyFrom = performance.eventLoopUtilization();

    const stopAt = clock.now();
    s.sink.open = false; // the client hung up: writes return false at once from now on
    const mixerCallsAtStop = s.mixer.calls.length;
    await s.task.stopWhenDone();
    const elapsed = clock.now() - stopAt;
    const busy = performance.eventLoopUtilization(busyFrom).utilization;
    await s.done;

    // Ends within the slow step + queued audio + end silence + 1 s (in fact right after the slow step).
    expect(elapsed).toBeGreaterThanOrEqual(3_000 - 5);
    expect(elapsed).toBeLessThan(3_000 + 1_000 + 2_000 + 1_000);
    expect(s.finishedBy[0]).toBeInstanceOf(EndFrame);
    // The mixer ran at most once per chunk of elapsed time (+1) overall, and not at all once the sink closed.
    const total = s.mixer.calls.length;
    expect(total).toBeLessThanOrEqual(Math.ceil(clock.now() / CHUNK_MS) + 2);
    expect(total - mixerCallsAtStop).toBeLessThanOrEqual(2);
    // Nothing but the end of the stream went downstream after the sink closed (one tick of slack:
    // the output learns of the close from the first refused write).
    const after = s.recorder.seen.filter((e) => e.atMs > stopAt + CHUNK_MS + 1).map((e) => e.frame);
    expect(after.filter((f) => f instanceof OutputAudioRawFrame)).toEqual([]);
    expect(after.every((f) => f instanceof EndFrame)).toBe(true);
    // Memory and the event loop.
    const heapAfter = await settledHeap();
    expect(heapAfter - heapBefore).toBeLessThan(10 * 1024 * 1024);
    expect(busy).toBeLessThan(0.5);
  }, 15_000);
});

describe("seed scenario 2: cancel while the slow service never finishes handling CancelFrame", () => {
  it("cancel resolves within cancelTimeoutMs, the mixer is stopped and no timers are left", async () => {
    const clock = new VirtualClock();
    const s = build(clock, { hangOnCancel: true, task: { cancelTimeoutMs: 2_000 } });
    await clock.runUntil(s.isStarted);
    s.task.queueFrame(new TTSAudioRawFrame(constant(5_000, RATE), RATE));
    await clock.advance(500);
    const t0 = clock.now();
    const callsAtCancel = s.mixer.calls.length;
    await clock.runUntil(s.task.cancel("user left"));
    const elapsed = clock.now() - t0;
    await s.done;
    expect(elapsed).toBeLessThanOrEqual(2_000);
    expect(s.finishedBy[0]).toBeInstanceOf(CancelFrame);
    expect(s.mixer.stopped).toBe(1);
    expect(s.mixer.calls.length - callsAtCancel).toBeLessThanOrEqual(Math.ceil(elapsed / CHUNK_MS) + 1);
    expect(clock.pendingTimers).toBe(0);
    const writes = s.output.writeCalls;
    await clock.advance(10_000);
    expect(s.output.writeCalls).toBe(writes);
  });
});

describe("seed scenario 3: the client disconnects and nobody cancels", () => {
  it("stops producing at once and the idle timeout ends the task", async () => {
    const clock = new VirtualClock();
    const s = build(clock, { task: { idleTimeoutMs: 60_000 } });
    await clock.runUntil(s.isStarted);
    await clock.advance(1_000);
    s.sink.open = false; // the socket closed
    const callsAtClose = s.mixer.calls.length;
    const writesAtClose = s.output.writeCalls;
    await clock.runUntil(s.done, { maxMs: 120_000 });
    expect(s.finishedBy[0]).toBeInstanceOf(CancelFrame);
    expect(clock.now()).toBeLessThanOrEqual(60_000 + 100);
    // One refused write teaches the output that the sink is gone; then nothing more.
    expect(s.mixer.calls.length - callsAtClose).toBeLessThanOrEqual(1);
    expect(s.output.writeCalls - writesAtClose).toBeLessThanOrEqual(1);
  });
});

describe("seed scenario 4: one simulated hour, mixer on, no input", () => {
  it("writes exactly one chunk per tick and keeps the heap flat", async () => {
    const clock = new VirtualClock({ settleTurns: 1 });
    const s = build(clock, {});
    await clock.runUntil(s.isStarted);
    const t0 = clock.now();
    const writes0 = s.output.writeCalls;
    await clock.advance(10 * 60_000);
    const heapAt10 = await settledHeap();
    await clock.advance(50 * 60_000);
    const heapAt60 = await settledHeap();
    const ticks = (clock.now() - t0) / CHUNK_MS;
    const written = s.output.writeCalls - writes0;
    expect(written).toBeGreaterThanOrEqual(ticks - 1);
    expect(written).toBeLessThanOrEqual(ticks + 1);
    expect(s.mixer.calls.length - writes0).toBe(written);
    expect(s.output.sender()!.reanchors).toBe(0);
    expect(heapAt60 - heapAt10).toBeLessThan(2 * 1024 * 1024);
    s.mixer.calls.length = 0;
    await clock.runUntil(s.task.cancel());
  }, 60_000);
});

describe("seed scenario 5: interruption mid-speech with a mixer", () => {
  it("writes at most one stale chunk after the interruption and leaves no gap in the mixer's writes", async () => {
    const clock = new VirtualClock();
    const mixer = new CountingMixer(clock);
    const transport = new MemoryTransport({
      params: { audioOutEnabled: true, audioOutSampleRate: RATE, audioOutMixer: mixer },
    });
    const task = new PipelineTask(new Pipeline([new FrameProcessor(), transport.output()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    await clock.advance(100);
    task.queueFrame(new TTSAudioRawFrame(constant(3_000, RATE, 5_000), RATE));
    await clock.advance(1_020);
    const before = transport.output().written.length;
    task.queueFrame(new InterruptionFrame());
    await clock.advance(2_000);
    const written = transport.output().written;
    const stale = written.slice(before).filter((w) => w.frame.audio[0] === 5_000 + mixer.level).length;
    expect(stale).toBeLessThanOrEqual(1);
    const times = written.map((w) => w.atMs);
    const maxGap = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    expect(maxGap).toBeLessThanOrEqual(CHUNK_MS);
    await clock.runUntil(task.cancel());
    await done;
  });
});

describe("seed scenario 6: EndFrame after 3 s of queued TTS audio", () => {
  it("writes every chunk, in order, before the end", async () => {
    const clock = new VirtualClock();
    const s = build(clock, { endMs: 0, endSilenceMs: 200 });
    await clock.runUntil(s.isStarted);
    const chunkSamples = (RATE * CHUNK_MS) / 1000;
    const audio = new Int16Array(chunkSamples * 75); // 3 s; chunk i holds the value i + 1
    for (let i = 0; i < 75; i++) audio.fill(i + 1, i * chunkSamples, (i + 1) * chunkSamples);
    s.task.queueFrame(new TTSAudioRawFrame(audio, RATE));
    s.task.queueFrame(new TTSStoppedFrame());
    const t0 = clock.now();
    await clock.runUntil(s.task.stopWhenDone());
    const played = s.recorder.seen.filter((e) => e.frame instanceof OutputAudioRawFrame);
    expect(played.map((e) => (e.frame as OutputAudioRawFrame).audio[0])).toEqual(
      Array.from({ length: 75 }, (_, i) => i + 1),
    );
    const endAt = s.recorder.seen.find((e) => e.frame instanceof EndFrame)!.atMs;
    expect(endAt).toBeGreaterThan(played.at(-1)!.atMs);
    expect(endAt - t0).toBeGreaterThanOrEqual(3_000 + 200 - CHUNK_MS);
    expect(s.finishedBy[0]).toBeInstanceOf(EndFrame);
  });
});

describe("seed scenario 7: churn of tasks with outputs and mixers, cancelled at random moments", () => {
  it("2,000 tasks: afterwards no output writes, no timer is left and the heap is back where it was", async () => {
    const clock = new SystemClock();
    let writes = 0;
    let mixes = 0;
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const sleep = (msReal: number) => new Promise((r) => setTimeout(r, msReal));

    async function one(): Promise<void> {
      const mixer = new CountingMixer(clock);
      const mix = mixer.mix.bind(mixer);
      mixer.calls.length = 0;
      mixer.mix = (a) => {
        mixes++;
        mixer.calls.length = 0; // keep the recorder from growing
        return mix(a);
      };
      const startMs = Math.floor(random() * 6);
      const start = mixer.start.bind(mixer);
      mixer.start = () => sleep(startMs).then(() => start()); // a start that takes real time
      const transport = new MemoryTransport({
        params: {
          audioOutEnabled: true,
          audioOutSampleRate: RATE,
          audioOutMixer: mixer,
          audioOutEndSilenceMs: 80,
        },
        recordLimit: 0,
        sink: () => {
          writes++;
          return true;
        },
      });
      const task = new PipelineTask(new Pipeline([transport.output()]), {
        clock,
        logger: silentLogger,
        idleTimeoutMs: null,
      });
      const done = task.run();
      const moment = random();
      if (moment < 0.2) {
        // at once: before the output has started
      } else if (moment < 0.45) {
        await sleep(startMs * random()); // while the mixer is starting
      } else {
        await new Promise<void>((r) => (task.hasFinished() ? r() : task.on("pipelineStarted", r)));
        task.queueFrame(new TTSAudioRawFrame(constant(200, RATE), RATE));
        if (moment < 0.75) {
          await sleep(random() * 30); // mid-speech
        } else {
          void task.stopWhenDone().catch(() => undefined);
          await sleep(random() * 40); // during the end (or its cleanup)
        }
      }
      await task.cancel("churn");
      await done;
    }

    const timersBefore = activeResources().Timeout ?? 0;
    const heapBefore = await settledHeap();
    for (let i = 0; i < 2_000; i += 100) await Promise.all(Array.from({ length: 100 }, () => one()));
    const writesAfter = writes;
    const mixesAfter = mixes;
    await sleep(300);
    expect(writes).toBe(writesAfter); // no output kept writing after its task ended
    expect(mixes).toBe(mixesAfter);
    expect((activeResources().Timeout ?? 0) - timersBefore).toBeLessThanOrEqual(0);
    const heapAfter = await settledHeap();
    expect(heapAfter - heapBefore).toBeLessThan(2 * 1024 * 1024);
  }, 60_000);
});
