import {
  type CancelFrame,
  type EndFrame,
  type Frame,
  type FrameDirection,
  FrameProcessor,
  type FrameProcessorOptions,
  type StartFrame,
  TextFrame,
} from "../../src/index.js";

/** Takes `delayMs` of task-clock time per TextFrame (aborted by its signal), then forwards it. */
export class SlowTextProcessor extends FrameProcessor {
  readonly aborted: string[] = [];
  readonly handled: string[] = [];
  constructor(
    private readonly delayMs: number,
    options: FrameProcessorOptions = {},
  ) {
    super(options);
  }
  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    if (!(frame instanceof TextFrame)) return super.processFrame(frame, direction);
    try {
      await this.clock.sleep(this.delayMs, signal);
    } catch {
      this.aborted.push(frame.text);
      return;
    }
    this.handled.push(frame.text);
    await this.pushFrame(frame, direction);
  }
}

/** A lifecycle hook that never returns (a provider that never acknowledges). */
export class StuckOn extends FrameProcessor {
  calls = 0;
  constructor(
    private readonly stage: "start" | "end" | "cancel",
    options: FrameProcessorOptions = {},
  ) {
    super(options);
  }
  protected override start(_frame: StartFrame): Promise<void> | void {
    if (this.stage === "start") return this.#forever();
  }
  protected override end(_frame: EndFrame): Promise<void> | void {
    if (this.stage === "end") return this.#forever();
  }
  protected override cancel(_frame: CancelFrame): Promise<void> | void {
    if (this.stage === "cancel") return this.#forever();
  }
  #forever(): Promise<void> {
    this.calls++;
    return new Promise<void>(() => {});
  }
}

/** A lifecycle hook that takes `delayMs` of task-clock time (cut short by cancel, via the life signal). */
export class SlowOn extends FrameProcessor {
  constructor(
    private readonly stage: "start" | "end" | "cancel",
    private readonly delayMs: number,
    options: FrameProcessorOptions = {},
  ) {
    super(options);
  }
  protected override start(_frame: StartFrame): Promise<void> | void {
    if (this.stage === "start") return this.clock.sleep(this.delayMs, this.lifeSignal);
  }
  protected override end(_frame: EndFrame): Promise<void> | void {
    if (this.stage === "end") return this.clock.sleep(this.delayMs, this.lifeSignal);
  }
  protected override cancel(_frame: CancelFrame): Promise<void> | void {
    if (this.stage === "cancel") return this.clock.sleep(this.delayMs, this.lifeSignal);
  }
}

/** Returns the texts of the TextFrames in `frames`. */
export function texts(frames: readonly Frame[]): string[] {
  return frames.filter((f): f is TextFrame => f instanceof TextFrame).map((f) => f.text);
}
