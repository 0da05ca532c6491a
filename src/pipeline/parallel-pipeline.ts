import { type Frame, FrameDirection } from "../frames/frame.js";
import { CancelFrame, EndFrame, StartFrame } from "../frames/lifecycle.js";
import { FrameProcessor } from "../processors/frame-processor.js";
import type { ProcessorContext } from "../processors/processor-context.js";
import { InvalidOptionError } from "../errors.js";
import { ContainerEdge, Pipeline } from "./pipeline.js";

function isSynchronised(frame: Frame): boolean {
  return frame instanceof StartFrame || frame instanceof EndFrame || frame instanceof CancelFrame;
}

/**
 * Branches that each see every frame. Frames that come out of several branches
 * unchanged leave once. `StartFrame`, `EndFrame` and `CancelFrame` are
 * synchronised: they leave once, after every branch has passed them; frames branches emit
 * before the `StartFrame` leaves wait for it.
 *
 * Bookkeeping is bounded by what is in flight: de-duplication marks frames in a `WeakSet` (an
 * entry lives as long as its frame does), and only lifecycle frames are counted. Pipecat keeps
 * a set of every frame id the pipeline ever saw.
 *
 * @example
 * new ParallelPipeline([sttA], [sttB]);
 */
export class ParallelPipeline extends FrameProcessor {
  readonly #branches: readonly Pipeline[];
  readonly #seenDown = new WeakSet<Frame>();
  readonly #seenUp = new WeakSet<Frame>();
  /** Lifecycle frames waiting for the remaining branches. */
  readonly #pending = new Map<Frame, number>();
  /** Frames emitted by branches before the synchronised StartFrame left. */
  #beforeStart: Array<[Frame, FrameDirection]> | undefined;
  #started = false;

  constructor(...branches: ReadonlyArray<readonly FrameProcessor[]>) {
    super({ direct: true });
    if (branches.length === 0) {
      throw new InvalidOptionError(
        "ParallelPipeline needs at least one branch, e.g. new ParallelPipeline([a], [b])",
      );
    }
    this.#branches = branches.map((list, i) => {
      const branch = new Pipeline(list, { name: `${this.name}::branch${i}` });
      new ContainerEdge(`${branch.name}::in`, (frame, direction) =>
        direction === FrameDirection.UPSTREAM ? this.#collect(frame, direction) : undefined,
      ).link(branch);
      branch.link(
        new ContainerEdge(`${branch.name}::out`, (frame, direction) =>
          direction === FrameDirection.DOWNSTREAM ? this.#collect(frame, direction) : undefined,
        ),
      );
      return branch;
    });
  }

  override get children(): readonly FrameProcessor[] {
    return this.#branches;
  }

  override setup(context: ProcessorContext): void {
    super.setup(context);
    for (const b of this.#branches) b.setup(context);
  }

  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    if (isSynchronised(frame)) {
      if (this.#pending.has(frame)) return; // already on its way through the branches
      if (frame instanceof StartFrame) {
        if (this.#started) return; // one StartFrame per life; a later one would hold every frame back
        this.#started = true;
      }
      this.#pending.set(frame, this.#branches.length);
      if (frame instanceof StartFrame) this.#beforeStart ??= [];
    }
    let waits: Array<Promise<void>> | undefined;
    for (const branch of this.#branches) {
      const r = branch.queueFrame(frame, direction);
      if (r) (waits ??= []).push(r);
    }
    if (waits) return Promise.all(waits).then(() => undefined);
  }

  #collect(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const remaining = this.#pending.get(frame);
    if (remaining !== undefined) {
      if (remaining > 1) {
        this.#pending.set(frame, remaining - 1);
        return;
      }
      this.#pending.delete(frame);
      return this.#leaveSynchronised(frame, direction);
    }
    const seen = direction === FrameDirection.DOWNSTREAM ? this.#seenDown : this.#seenUp;
    if (seen.has(frame)) return;
    seen.add(frame);
    if (this.#beforeStart) {
      this.#beforeStart.push([frame, direction]);
      return;
    }
    return this.#leave(frame, direction);
  }

  async #leaveSynchronised(frame: Frame, direction: FrameDirection): Promise<void> {
    await this.#leave(frame, direction);
    if (frame instanceof StartFrame && this.#beforeStart) {
      const held = this.#beforeStart;
      this.#beforeStart = undefined;
      for (const [f, d] of held) await this.#leave(f, d);
    }
  }

  #leave(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const target = direction === FrameDirection.DOWNSTREAM ? this.next : this.prev;
    if (target) return target.queueFrame(frame, direction);
  }
}
