/**
 * The smallest voicepipe program: text frames flow through a three-processor pipeline on the
 * real clock, an interruption drops the stale ones mid-way, and the task ends cleanly.
 *
 *   npm start        (runs this file)
 */
import {
  type Frame,
  type FrameDirection,
  FrameProcessor,
  InterruptionFrame,
  Pipeline,
  PipelineRunner,
  PipelineTask,
  TextFrame,
} from "../src/index.js";

/** Pretends to be a slow service: takes 100 ms per sentence, and stops at once when interrupted. */
class SlowUppercaser extends FrameProcessor {
  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    if (!(frame instanceof TextFrame)) return super.processFrame(frame, direction);
    try {
      await this.clock.sleep(100, signal);
    } catch {
      console.log(`  ${this.name}: interrupted while working on "${frame.text}"`);
      return;
    }
    await this.pushFrame(new TextFrame(frame.text.toUpperCase()), direction);
  }
}

/** Prints what reaches the end of the pipeline. */
class Printer extends FrameProcessor {
  constructor(private readonly started: number) {
    super({ name: "printer" });
  }
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const t = `${Math.round(this.clock.now() - this.started)}`.padStart(4);
    if (frame instanceof TextFrame) console.log(`${t} ms  out: ${frame.text}`);
    else if (frame instanceof InterruptionFrame) console.log(`${t} ms  out: (interruption)`);
    return super.processFrame(frame, direction);
  }
}

const words = new FrameProcessor({ name: "passthrough", direct: true });
const pipeline = new Pipeline([words, new SlowUppercaser({ name: "uppercaser" }), new Printer(0)]);
const task = new PipelineTask(pipeline, { cancelTimeoutMs: 1_000 });

task.on("pipelineStarted", () => console.log("   0 ms  pipeline started"));
task.on("pipelineFinished", (frame) => console.log(`        pipeline finished by ${frame.name}`));

const done = new PipelineRunner().run(task);

for (const s of ["hello", "this is voicepipe", "these three", "will be", "interrupted"]) {
  task.queueFrame(new TextFrame(s));
}
// After 250 ms the user "barges in": queued text is dropped, the sentence in flight is aborted.
await task.clock.sleep(250);
console.log(`   ~250 ms  -> interruption`);
task.queueFrame(new InterruptionFrame());
task.queueFrame(new TextFrame("after the interruption"));
await task.stopWhenDone();
await done;
console.log("done: no timers left, exit code 0");
