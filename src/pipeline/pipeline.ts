import { type Frame, FrameDirection } from "../frames/frame.js";
import { FrameProcessor } from "../processors/frame-processor.js";
import type { ProcessorContext } from "../processors/processor-context.js";
import { PipelineLinkError } from "../errors.js";

/**
 * One end of a container: forwards what reaches it out of the container, without lanes,
 * lifecycle or observer events (plumbing, not a processor of its own).
 */
export class ContainerEdge extends FrameProcessor {
  constructor(
    name: string,
    private readonly out: (frame: Frame, direction: FrameDirection) => void | Promise<void>,
  ) {
    super({ name, direct: true });
  }

  override queueFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    return this.out(frame, direction);
  }
}

/** Throws if `processor` is already linked somewhere. */
export function claimProcessor(container: string, processor: FrameProcessor): void {
  if (!(processor instanceof FrameProcessor)) {
    throw new PipelineLinkError(
      `${container}: every element must be a FrameProcessor (got ${String(processor)})`,
    );
  }
  if (processor.prev !== undefined || processor.next !== undefined) {
    throw new PipelineLinkError(
      `${container}: ${processor.name} is already linked into a pipeline; create a new instance for each place`,
    );
  }
}

/**
 * Processors linked in a chain, itself a processor, so pipelines nest. A frame
 * entering downstream goes to the first processor; one leaving the last processor leaves the
 * pipeline; upstream the same in reverse. The pipeline adds no queue and no hop of its own.
 *
 * @example
 * const pipeline = new Pipeline([transport.input(), stt, llm, tts, transport.output()]);
 */
export class Pipeline extends FrameProcessor {
  readonly #processors: readonly FrameProcessor[];
  readonly #first: FrameProcessor;
  readonly #last: FrameProcessor;

  constructor(processors: readonly FrameProcessor[], options: { name?: string } = {}) {
    super({ name: options.name, direct: true });
    processors.forEach((p) => claimProcessor(this.name, p));
    if (new Set(processors).size !== processors.length) {
      throw new PipelineLinkError(
        `${this.name}: the same processor appears twice; create a new instance for each place`,
      );
    }
    this.#processors = [...processors];
    const source = new ContainerEdge(`${this.name}::source`, (frame, direction) =>
      direction === FrameDirection.UPSTREAM ? this.#leave(frame, direction) : undefined,
    );
    const sink = new ContainerEdge(`${this.name}::sink`, (frame, direction) =>
      direction === FrameDirection.DOWNSTREAM ? this.#leave(frame, direction) : undefined,
    );
    const chain = [source, ...this.#processors, sink];
    for (let i = 0; i < chain.length - 1; i++) chain[i]!.link(chain[i + 1]!);
    this.#first = chain[1]!;
    this.#last = chain[chain.length - 2]!;
  }

  /** The processors of this pipeline, in order. */
  override get children(): readonly FrameProcessor[] {
    return this.#processors;
  }

  override setup(context: ProcessorContext): void {
    super.setup(context);
    for (const p of this.#processors) p.setup(context);
  }

  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    return direction === FrameDirection.DOWNSTREAM
      ? this.#first.queueFrame(frame, direction)
      : this.#last.queueFrame(frame, direction);
  }

  #leave(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const target = direction === FrameDirection.DOWNSTREAM ? this.next : this.prev;
    if (target) return target.queueFrame(frame, direction);
  }
}

/** Every processor inside `root` (depth first, in pipeline order), containers included. */
export function flattenProcessors(root: FrameProcessor): FrameProcessor[] {
  const out: FrameProcessor[] = [];
  const walk = (p: FrameProcessor): void => {
    out.push(p);
    for (const child of p.children) walk(child);
  };
  walk(root);
  return out;
}
