import { describe, expect, it } from "vitest";
import {
  CancelFrame,
  EndFrame,
  ErrorFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  FunctionCallResultFrame,
  InputAudioRawFrame,
  InterruptionFrame,
  Pipeline,
  PipelineTask,
  ProcessorError,
  StartFrame,
  TextFrame,
  UserStartedSpeakingFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { FrameRecorder, Sleep, runTest } from "../../src/testing/index.js";
import { SlowOn, SlowTextProcessor, texts } from "../support/processors.js";

const call = { functionName: "lookup", toolCallId: "c1", arguments: {} };

/** Records the order in which frames are handled (not just forwarded). */
class OrderLog extends FrameProcessor {
  readonly log: string[] = [];
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    this.log.push(frame instanceof TextFrame ? `text:${frame.text}` : frame.constructor.name);
    return super.processFrame(frame, direction);
  }
  protected override start(): void {
    this.log.push("start");
  }
}

describe("FrameProcessor ordering", () => {
  it("handles StartFrame first even when it is queued after other frames", async () => {
    const p = new OrderLog();
    const clock = new VirtualClock();
    const recorder = new FrameRecorder();
    p.link(recorder);
    const context = {
      clock,
      logger: silentLogger,
      taskName: "t",
      onPush: undefined,
      reportProgress() {},
      pipelineStarted: Promise.resolve(true),
    };
    p.setup(context);
    recorder.setup(context);
    p.queueFrame(new TextFrame("early"));
    p.queueFrame(new UserStartedSpeakingFrame());
    p.queueFrame(new StartFrame());
    await clock.settle();
    expect(p.log).toEqual(["start", "UserStartedSpeakingFrame", "text:early"]);
    expect(recorder.frames.map((f) => f.constructor.name)).toEqual([
      "StartFrame",
      "UserStartedSpeakingFrame",
      "TextFrame",
    ]);
  });

  it("lets system frames overtake queued data frames", async () => {
    const slow = new SlowTextProcessor(100);
    const { down } = await runTest(slow, {
      framesToSend: [new TextFrame("a"), new TextFrame("b"), new UserStartedSpeakingFrame()],
    });
    expect(down.map((f) => f.constructor.name)).toEqual([
      "UserStartedSpeakingFrame",
      "TextFrame",
      "TextFrame",
    ]);
    expect(texts(down)).toEqual(["a", "b"]);
  });

  it("keeps order within the ordered lane, downstream and upstream", async () => {
    const sent = Array.from({ length: 300 }, (_, i) => new TextFrame(`t${i}`));
    const down = await runTest(new SlowTextProcessor(1), { framesToSend: sent });
    expect(texts(down.down)).toEqual(sent.map((f) => f.text));
    const up = await runTest(new SlowTextProcessor(1), {
      framesToSend: sent,
      direction: FrameDirection.UPSTREAM,
    });
    expect(texts(up.up)).toEqual(sent.map((f) => f.text));
    expect(texts(up.down)).toEqual([]);
  });

  it("forwards unknown frames by default, in both directions", async () => {
    const { down, up } = await runTest(new FrameProcessor(), {
      framesToSend: [new TextFrame("x"), new UserStartedSpeakingFrame()],
    });
    expect(down.map((f) => f.constructor.name)).toEqual(["TextFrame", "UserStartedSpeakingFrame"]);
    expect(up).toEqual([]);
  });
});

describe("FrameProcessor interruption", () => {
  it("drops queued interruptible frames, aborts the one in flight, and keeps later frames", async () => {
    const slow = new SlowTextProcessor(100);
    const { down } = await runTest(slow, {
      framesToSend: [
        new TextFrame("in flight"),
        new TextFrame("queued"),
        new Sleep(50),
        new InterruptionFrame(),
        new TextFrame("after"),
      ],
    });
    expect(slow.aborted).toEqual(["in flight"]);
    expect(down.map((f) => f.constructor.name)).toEqual(["InterruptionFrame", "TextFrame"]);
    expect(texts(down)).toEqual(["after"]);
  });

  it("delivers uninterruptible frames exactly once, after the InterruptionFrame", async () => {
    const slow = new SlowTextProcessor(100);
    const result = new FunctionCallResultFrame(call, { ok: true });
    const { down } = await runTest(slow, {
      framesToSend: [new TextFrame("in flight"), result, new Sleep(10), new InterruptionFrame()],
    });
    expect(down.map((f) => f.constructor.name)).toEqual(["InterruptionFrame", "FunctionCallResultFrame"]);
    expect(down.filter((f) => f === result)).toHaveLength(1);
  });

  it("does not abort an uninterruptible frame in flight", async () => {
    class SlowResult extends FrameProcessor {
      aborted = false;
      override async processFrame(
        frame: Frame,
        direction: FrameDirection,
        signal?: AbortSignal,
      ): Promise<void> {
        if (frame instanceof FunctionCallResultFrame) {
          await this.clock.sleep(100);
          this.aborted = signal?.aborted ?? false;
        }
        return super.processFrame(frame, direction);
      }
    }
    const p = new SlowResult();
    const { down } = await runTest(p, {
      framesToSend: [
        new FunctionCallResultFrame(call, 1),
        new TextFrame("queued"),
        new Sleep(10),
        new InterruptionFrame(),
      ],
    });
    expect(p.aborted).toBe(false);
    expect(down.map((f) => f.constructor.name)).toEqual(["InterruptionFrame", "FunctionCallResultFrame"]);
  });

  it("never lets output produced after an interruption overtake the InterruptionFrame downstream", async () => {
    // Two slow processors in a row: the second must see the interruption before the new text.
    const a = new SlowTextProcessor(10, { name: "a" });
    const b = new SlowTextProcessor(10, { name: "b" });
    const { down } = await runTest(new Pipeline([a, b]), {
      framesToSend: [new TextFrame("old"), new Sleep(15), new InterruptionFrame(), new TextFrame("new")],
    });
    expect(texts(down)).toEqual(["new"]);
    expect(down[0]).toBeInstanceOf(InterruptionFrame);
  });

  it("holds the ordered lane until the InterruptionFrame is forwarded, even behind a slow system frame", async () => {
    // `a` is slow on a system frame, so the InterruptionFrame waits behind it in the system lane.
    // The text sent after the interruption must still reach `b` after the interruption, or `b`
    // would drop it as stale.
    class SlowOnSystem extends FrameProcessor {
      override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
        if (frame instanceof UserStartedSpeakingFrame) await this.clock.sleep(5);
        return super.processFrame(frame, direction);
      }
    }
    const a = new SlowOnSystem({ name: "a" });
    const b = new SlowTextProcessor(10, { name: "b" });
    const { down } = await runTest(new Pipeline([a, b]), {
      framesToSend: [new UserStartedSpeakingFrame(), new InterruptionFrame(), new TextFrame("new")],
    });
    expect(texts(down)).toEqual(["new"]);
  });

  it("runs the system lane outside the turn of whoever pushed to it: its data frames are not stale", async () => {
    // `a`'s handler outlives an interruption (it ignores its signal) and then pushes a system
    // frame, which goes out from the ended turn. `b` handles it in its system lane and pushes a
    // data frame: that frame belongs to no turn of `a`'s, so it must not be dropped as stale.
    class PushesLate extends FrameProcessor {
      override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
        if (frame instanceof TextFrame && frame.text === "go") {
          await this.clock.sleep(5);
          await this.pushFrame(new UserStartedSpeakingFrame(), direction);
          return;
        }
        return super.processFrame(frame, direction);
      }
    }
    class TextOnSystemFrame extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof UserStartedSpeakingFrame)
          void this.pushFrame(new TextFrame("from-system"), direction);
        return super.processFrame(frame, direction);
      }
    }
    const a = new PushesLate({ name: "a" });
    const b = new TextOnSystemFrame({ name: "b" });
    const { down } = await runTest(new Pipeline([a, b]), {
      framesToSend: [new TextFrame("go"), new Sleep(1), new InterruptionFrame(), new Sleep(20)],
    });
    expect(texts(down)).toEqual(["from-system"]);
    expect(down.some((f) => f instanceof UserStartedSpeakingFrame)).toBe(true);
    expect(b.staleFramesDropped).toBe(0);
  });

  it("keeps EndFrame through an interruption", async () => {
    const slow = new SlowTextProcessor(100);
    const { task } = await runTest(slow, {
      framesToSend: [new TextFrame("x"), new Sleep(10)],
      sendEndFrame: false,
    });
    const done = task.stopWhenDone(); // the EndFrame is now queued behind "x"
    // An interruption arrives after the EndFrame was queued: the task must still end.
    const clock = task.clock as VirtualClock;
    slow.queueFrame(new InterruptionFrame());
    await clock.runUntil(done, { maxMs: 5_000 });
    expect(task.hasFinished()).toBe(true);
  });
});

describe("FrameProcessor errors and cancel", () => {
  it("turns an exception into an ErrorFrame upstream and keeps running", async () => {
    class Throws extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame && frame.text === "bad") throw new Error("boom");
        return super.processFrame(frame, direction);
      }
    }
    const p = new Throws();
    const errors: ErrorFrame[] = [];
    p.on("error", (e) => void errors.push(e));
    const { down, up } = await runTest(p, {
      framesToSend: [new TextFrame("bad"), new TextFrame("good")],
    });
    expect(texts(down)).toEqual(["good"]);
    expect(up).toHaveLength(1);
    expect(up[0]).toBeInstanceOf(ErrorFrame);
    const error = (up[0] as ErrorFrame).error;
    expect(error).toBeInstanceOf(ProcessorError);
    expect(error.message).toMatch(/Throws#\d+ threw while processing TextFrame#\d+: boom/);
    expect(errors).toHaveLength(1);
  });

  it("drops every frame offered after CancelFrame and aborts work in flight", async () => {
    const slow = new SlowTextProcessor(1_000);
    const clock = new VirtualClock();
    const recorder = new FrameRecorder();
    const task = new PipelineTask(new Pipeline([slow, recorder]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    task.queueFrame(new TextFrame("long"));
    await clock.advance(10);
    await task.cancel("test");
    await clock.runUntil(done);
    slow.queueFrame(new TextFrame("too late"));
    expect(slow.aborted).toEqual(["long"]);
    expect(slow.droppedFrames).toBeGreaterThanOrEqual(1);
    expect(recorder.frames.some((f) => f instanceof CancelFrame)).toBe(true);
    expect(texts(recorder.frames)).toEqual([]);
  });

  it("bounds a lane: a stuck processor drops its oldest interruptible frames, never lifecycle ones", async () => {
    const stuck = new SlowOn("start", 10_000, { maxQueuedFrames: 100 });
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([stuck]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    for (let i = 0; i < 1_000; i++) stuck.queueFrame(new InputAudioRawFrame(new Int16Array(160), 16_000));
    const end = new EndFrame();
    stuck.queueFrame(end);
    expect(stuck.queuedFrames).toBeLessThanOrEqual(101);
    expect(stuck.droppedFrames).toBe(900);
    void task.cancel();
    await clock.runUntil(done);
  });
});

describe("direct mode", () => {
  it("handles frames synchronously in the caller, with no queue", () => {
    const p = new FrameProcessor({ direct: true });
    const recorder = new FrameRecorder();
    p.link(recorder);
    const frame = new TextFrame("now");
    const result = p.queueFrame(frame);
    expect(result).toBeUndefined();
    expect(recorder.frames).toEqual([frame]);
  });
});

describe("EndFrame and the system lane", () => {
  it("handles every system frame that arrived before an EndFrame before ending", async () => {
    // Input audio (system frames) whose handling takes time must not be overtaken by the
    // EndFrame behind it in the ordered lane, or the audio would be lost at teardown.
    class SlowAudio extends FrameProcessor {
      readonly seen: number[] = [];
      override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
        if (frame instanceof InputAudioRawFrame) {
          await this.clock.sleep(10);
          this.seen.push(frame.audio[0]!);
        }
        return super.processFrame(frame, direction);
      }
    }
    const p = new SlowAudio();
    const frames = Array.from(
      { length: 20 },
      (_, i) => new InputAudioRawFrame(new Int16Array(160).fill(i), 16_000),
    );
    const { down } = await runTest(p, { framesToSend: frames });
    expect(p.seen).toEqual(frames.map((_, i) => i));
    expect(down.filter((f) => f instanceof InputAudioRawFrame)).toHaveLength(20);
  });
});
