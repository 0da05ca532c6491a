/**
 * Which way a frame travels: downstream is input → output (media, text, most data), upstream
 * is output → input (errors, task requests, notifications for earlier processors).
 */
export const FrameDirection = {
  DOWNSTREAM: "downstream",
  UPSTREAM: "upstream",
} as const;
export type FrameDirection = (typeof FrameDirection)[keyof typeof FrameDirection];

/** The scheduling class of a frame (docs/design/principles.md). */
export type FrameLane = "system" | "data" | "control";

let nextFrameId = 1;

/**
 * Bits the runtime tests on every hop, worked out once per class (internal: use `instanceof`
 * in your own code). One `&` instead of a chain of `instanceof` per frame per processor.
 */
export const FrameFlags = {
  SYSTEM: 1,
  UNINTERRUPTIBLE: 2,
  START: 4,
  END: 8,
  CANCEL: 16,
  INTERRUPTION: 32,
  /** For the task: requests (`EndTaskFrame`, …) and errors, acted on where they are pushed. */
  TASK: 64,
} as const;
/** Flags that send a frame down the runtime's slow path. */
export const SPECIAL_FRAME_FLAGS =
  FrameFlags.START | FrameFlags.END | FrameFlags.CANCEL | FrameFlags.INTERRUPTION;

const flagCache = new WeakMap<object, number>();

function flagsOf(cls: typeof Frame): number {
  let flags = flagCache.get(cls);
  if (flags === undefined) {
    flags = cls.kindFlags;
    if (cls.lane === "system") flags |= FrameFlags.SYSTEM;
    if (cls.uninterruptible) flags |= FrameFlags.UNINTERRUPTIBLE;
    flagCache.set(cls, flags);
  }
  return flags;
}

/**
 * The unit that flows through a pipeline. Subclass {@link SystemFrame}, {@link DataFrame} or
 * {@link ControlFrame}, never `Frame` directly: the base class decides how a frame is
 * scheduled, and that is a fact about its class, not something a processor re-decides.
 *
 * A frame is a message, not a value: processors forward the same object, so do not mutate a
 * frame after pushing it.
 */
export abstract class Frame {
  /** The frame's scheduling class. */
  static readonly lane: FrameLane;
  /**
   * Uninterruptible frames keep their place in a queue through an interruption, and a
   * processor handling one is not aborted (docs/design/principles.md). Set on the class.
   */
  static readonly uninterruptible: boolean = false;
  /** Lifecycle bits of the class ({@link FrameFlags}); only the runtime's own frames set them. @internal */
  static readonly kindFlags: number = 0;

  /** Process-unique, increasing. */
  readonly id: number = nextFrameId++;
  /** {@link FrameFlags} of this frame's class. @internal */
  readonly schedulingFlags: number = flagsOf(this.constructor as typeof Frame);
  /** Presentation time in ms on the pipeline clock: the output transport holds the frame until then. */
  pts: number | undefined = undefined;
  /** Name of the transport track this frame came from (input), if any. */
  transportSource: string | undefined = undefined;
  /** Name of the output destination (track) this frame is for; `undefined` is the default one. */
  transportDestination: string | undefined = undefined;
  /** When a frame was broadcast both ways, the id of its twin. */
  broadcastSiblingId: number | undefined = undefined;
  #metadata: Record<string, unknown> | undefined;

  /** Free-form data for applications; allocated on first use. */
  get metadata(): Record<string, unknown> {
    return (this.#metadata ??= {});
  }

  /** `ClassName#id`, for logs. */
  get name(): string {
    return `${this.constructor.name}#${this.id}`;
  }

  /** The class's scheduling lane. */
  get lane(): FrameLane {
    return (this.constructor as typeof Frame).lane;
  }

  /** Whether this frame survives interruptions (see {@link Frame.uninterruptible}). */
  get uninterruptible(): boolean {
    return (this.constructor as typeof Frame).uninterruptible;
  }

  toString(): string {
    return this.name;
  }
}

/**
 * Handled as soon as it arrives, ahead of queued data and control frames, in arrival order
 * among system frames. Never dropped by an interruption.
 */
export abstract class SystemFrame extends Frame {
  static override readonly lane: FrameLane = "system";
}

/** Ordered with the data stream; dropped from queues by an interruption unless uninterruptible. */
export abstract class DataFrame extends Frame {
  static override readonly lane: FrameLane = "data";
}

/** Ordered in the same lane as data; dropped by an interruption unless uninterruptible. */
export abstract class ControlFrame extends Frame {
  static override readonly lane: FrameLane = "control";
}

/** Whether `frame` keeps its place through an interruption. */
export function isUninterruptible(frame: Frame): boolean {
  return (frame.constructor as typeof Frame).uninterruptible;
}
