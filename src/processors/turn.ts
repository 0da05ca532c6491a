import { AsyncLocalStorage } from "node:async_hooks";
import type { Frame, FrameDirection } from "../frames/frame.js";
import { LazySignal } from "./lazy-signal.js";

type TurnPush = (frame: Frame, direction: FrameDirection | undefined, turn: Turn) => void | Promise<void>;

/**
 * One turn of a processor's ordered lane: the span between two interruptions. Work started for
 * a turn (a handler, an LLM stream, a TTS request, a receive loop's reply) belongs to it; once an
 * interruption ends the turn, the interruptible frames that work still pushes are stale and the
 * base class drops them (docs/design/interruption.md).
 *
 * A handler gets its turn implicitly: whatever it pushes, after any number of awaits, is checked
 * against the turn it started in. Work that runs outside the handler (a socket's receive loop)
 * takes the handle with {@link FrameProcessor.turn} when it sends the request and pushes the
 * reply through {@link Turn.push}.
 */
export class Turn {
  readonly #push: TurnPush;
  readonly #end = new LazySignal();

  /** @internal */
  constructor(
    /** Id of the processor that owns the turn. @internal */
    readonly ownerId: number,
    push: TurnPush,
  ) {
    this.#push = push;
  }

  /** Aborted when an interruption (or cancel) ends the turn. */
  get signal(): AbortSignal {
    return this.#end.signal;
  }

  /** Whether the turn is still current (no interruption or cancel has ended it). */
  get active(): boolean {
    return !this.#end.ended;
  }

  /** Ends the turn (the processor's interruption or cancel). @internal */
  end(reason: Error): void {
    this.#end.end(reason);
  }

  /**
   * Pushes `frame` on behalf of this turn: once the turn has ended, an interruptible frame is
   * dropped (counted in `FrameProcessor.staleFramesDropped`); system and uninterruptible frames
   * always go.
   */
  push(frame: Frame, direction?: FrameDirection): void | Promise<void> {
    return this.#push(frame, direction, this);
  }
}

/**
 * The turn the running code belongs to. A processor's ordered lane runs inside its turn, so
 * every continuation of a handler, awaited or detached, still sees the turn it started in.
 * One store for the whole process: the check costs one lookup per push, and only in a
 * processor that has had an interruption.
 * @internal
 */
export const turnStore = new AsyncLocalStorage<Turn>();

/**
 * Turns ended so far in the process: pushes are checked for staleness only once one has ended,
 * so a session that never interrupts pays nothing for the check. @internal
 */
export const endedTurns = { count: 0 };
