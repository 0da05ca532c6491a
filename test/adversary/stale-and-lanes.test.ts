/**
 * Interruption turns (docs/design/interruption.md) and lane bounds. Holes are `it.fails`.
 */
import { describe, expect, it } from "vitest";
import {
  CancelTaskFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  InputAudioRawFrame,
  InterruptionFrame,
  TextFrame,
} from "../../src/index.js";
import { startRecordedTask } from "../support/task.js";

const texts = (frames: readonly Frame[]): string[] =>
  frames.filter((f): f is TextFrame => f instanceof TextFrame).map((f) => f.text);

describe("stale work after an interruption cannot push (adversary)", () => {
  // Was a HOLE, fixed; now a regression test. VirtualClock fires timer callbacks from advance()/runUntil(), in the caller's async
  // context, so a timer a handler set (`this.clock.setTimer`, the injected clock) loses the turn
  // it was set in: after an interruption its push is not recognised as stale. On a SystemClock
  // (Node timers carry AsyncLocalStorage) the same push is dropped (staleFramesDropped 1), so tests
  // on the virtual clock — which runTest and the docs recommend — see stale frames production
  // would drop. Measured: "stale" reached the end of the pipeline, staleFramesDropped 0.
  it("a handler's clock.setTimer callback is stale after an interruption (VirtualClock)", async () => {
    class TimerPusher extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame && frame.text === "go") {
          this.clock.setTimer(() => void this.pushFrame(new TextFrame("stale")), 100);
          return;
        }
        return super.processFrame(frame, direction);
      }
    }
    const p = new TimerPusher();
    const s = startRecordedTask([p]);
    await s.whenStarted();
    s.task.queueFrame(new TextFrame("go"));
    await s.clock.advance(10);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(500);
    await s.clock.runUntil(s.task.cancel());
    expect(texts(s.recorder.frames)).not.toContain("stale");
  });

  // Was a HOLE, fixed; now a regression test. A direct processor never has its own turn in the AsyncLocalStorage (it runs in its
  // pusher's context), so the `turn.ownerId === this.id` check in pushFrame never matches: work a
  // direct processor detached from a handler pushes after an interruption unchecked, although
  // #dispatchInterruption ends its turn "to make in-flight work stale". Measured: "stale" reached
  // the sink, staleFramesDropped 0.
  it("a direct processor's detached work is stale after an interruption", async () => {
    class DirectDetached extends FrameProcessor {
      constructor() {
        super({ direct: true });
      }
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame && frame.text === "go") {
          void (async () => {
            await this.clock.sleep(100);
            await this.pushFrame(new TextFrame("stale"));
          })();
          return;
        }
        return super.processFrame(frame, direction);
      }
    }
    const s = startRecordedTask([new FrameProcessor(), new DirectDetached()]);
    await s.whenStarted();
    s.task.queueFrame(new TextFrame("go"));
    await s.clock.advance(10);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(500);
    await s.clock.runUntil(s.task.cancel());
    expect(texts(s.recorder.frames)).not.toContain("stale");
  });

  it("held: a queued processor's detached sleep-then-push is dropped", async () => {
    class Detached extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame && frame.text === "go") {
          void (async () => {
            await this.clock.sleep(100);
            await this.pushFrame(new TextFrame("stale"));
          })();
          return;
        }
        return super.processFrame(frame, direction);
      }
    }
    const p = new Detached();
    const s = startRecordedTask([p]);
    await s.whenStarted();
    s.task.queueFrame(new TextFrame("go"));
    await s.clock.advance(10);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(500);
    await s.clock.runUntil(s.task.cancel());
    expect(texts(s.recorder.frames)).not.toContain("stale");
    expect(p.staleFramesDropped).toBe(1);
  });
});

/** Its system lane is stuck on input audio (a slow VAD); everything else passes. */
class StuckOnAudio extends FrameProcessor {
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame instanceof InputAudioRawFrame) return new Promise<void>(() => {});
    return super.processFrame(frame, direction);
  }
}
const audio = (): InputAudioRawFrame => new InputAudioRawFrame(new Int16Array(320), 16000);

describe("lanes never drop what the task must see (adversary)", () => {
  // Was a HOLE, fixed; now a regression test. A full lane drops its oldest frame that is neither lifecycle, interruption nor
  // uninterruptible. CancelTaskFrame (and InterruptionTaskFrame) are plain system frames, and
  // upstream requests travel through the same system lanes as input audio: a processor behind on
  // audio (maxQueuedFrames 10 here, 10,000 by default) drops a processor's request to cancel
  // (EndTaskFrame is protected: it is uninterruptible). Measured: 31 frames dropped, the
  // CancelTaskFrame among them, the task still running 1 s later.
  it("a CancelTaskFrame survives a full upstream system lane", async () => {
    class Requester extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame)
          return this.pushFrame(new CancelTaskFrame("caller hung up"), FrameDirection.UPSTREAM);
        return super.processFrame(frame, direction);
      }
    }
    const stuck = new StuckOnAudio({ maxQueuedFrames: 10 });
    const s = startRecordedTask([stuck, new Requester()]);
    await s.whenStarted();
    for (let i = 0; i < 11; i++) s.task.queueFrame(audio());
    s.task.queueFrame(new TextFrame("bye"));
    await s.clock.advance(10);
    for (let i = 0; i < 30 && !s.task.hasFinished(); i++) s.task.queueFrame(audio());
    await s.clock.advance(1_000);
    const finished = s.task.hasFinished();
    await s.clock.runUntil(s.task.cancel());
    expect(finished).toBe(true);
  });

  // Was a HOLE, fixed; now a regression test. Same for a fatal ErrorFrame (a system frame, droppable): the fatal error of a processor
  // behind a slow one never reaches the task, which keeps running instead of failing. Measured:
  // pipelineError events 0, outcome not "failed".
  it("a fatal ErrorFrame survives a full upstream system lane", async () => {
    class Failer extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame) return this.pushError("provider gone", { fatal: true });
        return super.processFrame(frame, direction);
      }
    }
    const stuck = new StuckOnAudio({ maxQueuedFrames: 10 });
    const s = startRecordedTask([stuck, new Failer()]);
    await s.whenStarted();
    for (let i = 0; i < 11; i++) s.task.queueFrame(audio());
    s.task.queueFrame(new TextFrame("go"));
    await s.clock.advance(10);
    for (let i = 0; i < 30 && !s.task.hasFinished(); i++) s.task.queueFrame(audio());
    await s.clock.advance(1_000);
    const outcome = s.task.outcome?.how;
    const errors = s.errors.length;
    await s.clock.runUntil(s.task.cancel());
    expect({ errors, outcome }).toEqual({ errors: 1, outcome: "failed" });
  });
});
