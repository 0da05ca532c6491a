import type { AsyncLocalStorage } from "node:async_hooks";
import { setImmediate as nextImmediate } from "node:timers/promises";
import type { Clock } from "../clock/clock.js";
import { nextTurn } from "../clock/next-turn.js";
import { ErrorFrame } from "../frames/error.js";
import {
  type Frame,
  FrameDirection,
  FrameFlags,
  SPECIAL_FRAME_FLAGS,
  isUninterruptible,
} from "../frames/frame.js";
import type { CancelFrame, EndFrame, InterruptionFrame, StartFrame } from "../frames/lifecycle.js";
import {
  CancelledError,
  InterruptedError,
  InvalidOptionError,
  MisuseError,
  ProcessorError,
  describe,
} from "../errors.js";
import { type EventMap, TypedEvents } from "../events.js";
import { type Logger, createConsoleLogger } from "../logger.js";
import { FrameQueue } from "./frame-queue.js";
import type { ProcessorContext } from "./processor-context.js";
import { LazySignal } from "./lazy-signal.js";
import { Turn, endedTurns, turnStore } from "./turn.js";
import { spendFrame } from "./turn-budget.js";

/** Settled: `RESOLVED.then(f)` runs `f` on the next microtask turn, for one promise. */
const RESOLVED = Promise.resolve();

/** Frames only the task sends; a processor forwards them but never creates one. */
const LIFECYCLE_FLAGS = FrameFlags.START | FrameFlags.END | FrameFlags.CANCEL;

/** Frames a full lane may drop: neither lifecycle, interruption nor uninterruptible. */
const KEEP_FLAGS = SPECIAL_FRAME_FLAGS | FrameFlags.UNINTERRUPTIBLE;

/** Frames a stale turn may still push: system and uninterruptible frames are never stale. */
const NEVER_STALE_FLAGS = FrameFlags.SYSTEM | FrameFlags.UNINTERRUPTIBLE;

/** Assigned by FrameProcessor's static block, which alone may reach a processor's private forwarding. */
let sendFromTask: (edge: FrameProcessor, frame: Frame, direction: FrameDirection) => void | Promise<void>;

/** Options common to every processor. */
export interface FrameProcessorOptions {
  /** Name for logs and timeout reports. @default `${ClassName}#${n}` */
  name?: string;
  /**
   * Direct mode: no lanes; frames are handled synchronously in the pusher's call, so a hop costs
   * a function call. For cheap pass-through processors and plumbing. Direct processors do not
   * hold frames back until `StartFrame` and have nothing to drop on interruption.
   * @default false
   */
  direct?: boolean;
  /**
   * Most frames a lane may hold. Past it, the oldest frame that is neither a lifecycle frame nor
   * uninterruptible is dropped (counted in {@link FrameProcessor.droppedFrames}, logged), so a
   * stuck processor cannot make memory grow for the length of a session. The default holds
   * minutes of 20–40 ms audio frames; producers of bigger bursts (e.g. a whole file queued at
   * once) should pace themselves or raise it.
   * @default 10000
   */
  maxQueuedFrames?: number;
}

/** Events every processor emits. */
export interface FrameProcessorEvents extends EventMap {
  /** The processor reported an error (also pushed upstream as an `ErrorFrame`). */
  error: (frame: ErrorFrame) => void;
}

/** Where a processor is in its life. */
export type ProcessorState = "created" | "ready" | "running" | "ended" | "cancelled" | "closed";

let nextProcessorId = 1;

/**
 * The unit of work in a pipeline (docs/design/lifecycle.md, docs/design/interruption.md).
 *
 * **Lanes.** System frames are handled as they arrive, in arrival order among themselves,
 * ahead of queued data. Data and control frames are handled one at a time, in order, by the
 * ordered lane. Nothing is handled before `StartFrame`: frames that arrive earlier wait, and a
 * `StartFrame` queued last is still handled first.
 *
 * **Forwarding.** Unknown frames are forwarded: the base {@link processFrame} pushes the frame on
 * in the direction it was travelling. Override it, handle the frames you care about, and hand
 * the rest to `super.processFrame`. Lifecycle frames (`StartFrame`, `EndFrame` and
 * `CancelFrame`) never reach `processFrame`: they run the {@link start}, {@link end} and
 * {@link cancel} hooks and the base class always forwards them, so a subclass cannot swallow
 * one; a hook that never returns is caught by the task's deadlines. Only the task creates
 * lifecycle frames: a processor that pushes one of its own gets a `MisuseError` (push an
 * `EndTaskFrame` or `CancelTaskFrame` to ask the task instead).
 *
 * **Start.** A queued processor passes `StartFrame` on at once and then runs its {@link start}
 * hook, so the start hooks of a pipeline (connecting to providers, loading models) run side by
 * side instead of one after another. Its lanes open when its hook has finished; frames that
 * arrive earlier wait. The task reports "started" when every processor is ready. (Pipecat's base class
 * forwards nothing, and a processor that forgets `EndFrame` hangs its pipeline.)
 *
 * **Interruption.** An `InterruptionFrame` drops queued interruptible frames and ends the lane's
 * turn: the `signal` passed to `processFrame` fires with an `InterruptedError`, and the lane
 * moves on without waiting for the handler (uninterruptible frames are neither dropped nor
 * aborted). A handler that ignores its signal may run on detached, but whatever interruptible
 * frame it pushes afterwards is dropped by the base class: work belongs to the turn it started
 * in (see {@link turn} for work outside `processFrame`, such as a socket's receive loop).
 *
 * **Cancel.** After `CancelFrame` the processor drops every frame it is offered or pushes,
 * aborts its work, runs {@link cancel} and forwards the `CancelFrame`.
 *
 * **Errors.** An exception in a handler or hook becomes an `ErrorFrame` pushed upstream; the
 * processor keeps running.
 *
 * @example
 * class Upper extends FrameProcessor {
 *   override processFrame(frame: Frame, direction: FrameDirection) {
 *     if (frame instanceof TextFrame) return this.pushFrame(new TextFrame(frame.text.toUpperCase()), direction);
 *     return super.processFrame(frame, direction);
 *   }
 * }
 */
export class FrameProcessor<E extends FrameProcessorEvents = FrameProcessorEvents> {
  /** Process-unique id. */
  readonly id = nextProcessorId++;
  /** Name for logs and timeout reports. */
  readonly name: string;
  /** Whether this processor runs in direct mode (see {@link FrameProcessorOptions.direct}). */
  readonly direct: boolean;
  readonly #maxQueued: number;

  #prev: FrameProcessor | undefined;
  #next: FrameProcessor | undefined;
  #context: ProcessorContext | undefined;
  #state: ProcessorState = "created";
  readonly #events: TypedEvents<E>;

  readonly #system = new FrameQueue();
  readonly #ordered = new FrameQueue();
  #orderedGen = 0;
  #inFlight: Frame | undefined;
  /** Interruptions that arrived and have not been forwarded yet; the ordered lane waits for 0. */
  #interruptionsPending = 0;
  #onResume: (() => void) | undefined;
  /** System frames queued and handled so far: an EndFrame waits for those that arrived before it. */
  #systemQueued = 0;
  #systemHandled = 0;
  #systemBarrier: { until: number; resolve: () => void } | undefined;
  /** For each queued EndFrame, how many system frames had arrived before it. */
  readonly #endBarriers = new Map<Frame, number>();
  /** Ended (then replaced) by an interruption, and ended by cancel/teardown. */
  #turn: Turn;
  /** The current turn's signal once a handler was given it (read on every dispatch). */
  #turnSignal: AbortSignal | undefined;
  /** Ended once, by cancel or teardown. */
  readonly #life = new LazySignal();
  /** The lifecycle frame this processor has received and not yet forwarded. */
  #holding: Frame | undefined;
  #holdingSince = 0;
  /** The lifecycle frame the base class is forwarding right now (the only one it may push). */
  #forwarding: Frame | undefined;
  #dropped = 0;
  #staleDropped = 0;
  /** The lane loops have started (after the start hook). */
  #lanesOpen = false;
  /**
   * The system lane's drain is queued, running, or waiting for a handler or a yield: a push need
   * not wake it. (The system lane is a drain woken by one promise reaction per idle period, not
   * an async loop awaiting a new promise per frame: most hops of a session are its audio frames
   * arriving at an idle lane, and the waiting promise, its executor and the await cost more
   * than the frame's handling in a pass-through processor.)
   */
  #systemBusy = false;
  readonly #ready: Promise<void>;
  #markReady!: () => void;

  constructor(options: FrameProcessorOptions = {}) {
    this.name = options.name ?? `${new.target.name}#${this.id}`;
    this.direct = options.direct ?? false;
    this.#maxQueued = options.maxQueuedFrames ?? 10_000;
    if (!Number.isInteger(this.#maxQueued) || this.#maxQueued < 1) {
      throw new InvalidOptionError(
        `${this.name}: maxQueuedFrames must be a whole number ≥ 1 (got ${String(options.maxQueuedFrames)})`,
      );
    }
    this.#events = new TypedEvents<E>(this.name, () => this.logger);
    this.#turn = this.#newTurn();
    this.#ready = new Promise<void>((resolve) => {
      this.#markReady = resolve;
    });
  }

  // ---------------------------------------------------------------- wiring and context

  /** The processor upstream of this one. */
  get prev(): FrameProcessor | undefined {
    return this.#prev;
  }

  /** The processor downstream of this one. */
  get next(): FrameProcessor | undefined {
    return this.#next;
  }

  /** Links `next` downstream of this processor (and this upstream of it). */
  link(next: FrameProcessor): void {
    this.#next = next;
    next.#prev = this;
  }

  /** Hands the task's context to this processor; called by the task before `StartFrame`. */
  setup(context: ProcessorContext): void {
    this.#context = context;
    if (this.#state === "created") this.#state = "ready";
  }

  /** The task's clock. Throws if the processor is not part of a task yet. */
  get clock(): Clock {
    if (!this.#context) {
      throw new Error(`${this.name} has no clock: it must run inside a PipelineTask (or the test kit)`);
    }
    return this.#context.clock;
  }

  /** The task's logger (a warn-level console logger before setup). */
  get logger(): Logger {
    return this.#context?.logger ?? fallbackLogger;
  }

  /** The context handed over by the task, if set up. */
  protected get context(): ProcessorContext | undefined {
    return this.#context;
  }

  /** Where this processor is in its life. */
  get state(): ProcessorState {
    return this.#state;
  }

  /** Frames this processor dropped: offered after cancel, or over its lane bound. */
  get droppedFrames(): number {
    return this.#dropped;
  }

  /** Interruptible frames dropped because the turn that pushed them had been interrupted. */
  get staleFramesDropped(): number {
    return this.#staleDropped;
  }

  /**
   * The current turn of the ordered lane. Take it when you start work whose results arrive
   * outside `processFrame` (send a request on a socket whose receive loop pushes the reply), and
   * push those results with `turn.push()`: once an interruption has ended that turn, they are
   * dropped instead of reaching the output as stale audio or text.
   */
  get turn(): Turn {
    return this.#turn;
  }

  /**
   * Resolves when the processor is ready: its start hook has finished (or it was cancelled or
   * torn down first). The task reports "started" once every processor is ready. @internal
   */
  whenReady(): Promise<void> {
    return this.#ready;
  }

  /** Frames waiting in the lanes. */
  get queuedFrames(): number {
    return this.#system.length + this.#ordered.length;
  }

  /**
   * The lifecycle frame this processor has received and not yet forwarded, and since when (ms
   * on the task clock). The task uses it to name who holds up a start, end or cancel.
   */
  get holding(): { frame: Frame; sinceMs: number } | undefined {
    return this.#holding ? { frame: this.#holding, sinceMs: this.#holdingSince } : undefined;
  }

  /** Aborted when the processor is cancelled or torn down: hand it to work that lives as long as the processor. */
  protected get lifeSignal(): AbortSignal {
    return this.#life.signal;
  }

  /** Processors inside this one (pipelines override it). */
  get children(): readonly FrameProcessor[] {
    return [];
  }

  // ---------------------------------------------------------------- events

  /** Adds an event handler; returns a function that removes it. Handlers never block the pipeline. */
  on<K extends keyof E>(event: K, handler: E[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** Removes an event handler. */
  off<K extends keyof E>(event: K, handler: E[K]): void {
    this.#events.off(event, handler);
  }

  /** Emits an event to this processor's handlers. */
  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    this.#events.emit(event, ...args);
  }

  // ---------------------------------------------------------------- entry point

  /**
   * Offers `frame` to this processor (called by the processor before or after it). Queued
   * processors enqueue and return at once; direct processors handle the frame in the call and
   * may return a promise.
   */
  queueFrame(frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM): void | Promise<void> {
    const state = this.#state;
    if (state === "cancelled" || state === "closed") {
      this.#dropped++;
      return;
    }
    const flags = frame.schedulingFlags;
    if (flags & SPECIAL_FRAME_FLAGS) {
      if (flags & FrameFlags.CANCEL) return this.#onCancel(frame as CancelFrame, direction);
      if (this.direct) return this.#queueDirect(frame, direction);
      if (flags & FrameFlags.START) return this.#onStart(frame as StartFrame, direction);
      if (flags & FrameFlags.INTERRUPTION) {
        this.#beginInterruption();
      } else {
        // EndFrame: handled only after the system frames that arrived before it.
        this.#hold(frame);
        this.#endBarriers.set(frame, this.#systemQueued);
      }
    } else if (this.direct) {
      return this.#dispatch(frame, direction);
    }
    if (flags & FrameFlags.SYSTEM) {
      this.#systemQueued++;
      this.#enqueue(this.#system, frame, direction);
      if (!this.#systemBusy && this.#lanesOpen) {
        this.#systemBusy = true;
        void RESOLVED.then(this.#wakeSystemLane);
      }
    } else {
      this.#enqueue(this.#ordered, frame, direction);
    }
  }

  /**
   * Sends `frame` to the next processor (downstream) or the previous one (upstream). After
   * cancel, only `CancelFrame` and `ErrorFrame` still go out.
   */
  pushFrame(frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM): void | Promise<void> {
    const flags = frame.schedulingFlags;
    if (flags & LIFECYCLE_FLAGS && frame !== this.#forwarding) throw lifecycleMisuse(this.name, frame);
    if (endedTurns.count > 0 && !(flags & NEVER_STALE_FLAGS)) {
      // Whose turn it is does not matter: work running in any ended turn is stale, including a
      // direct processor's work started inside the turn of the processor that called it.
      const turn = turnStore.getStore();
      if (turn !== undefined && !turn.active) {
        this.#dropStale(frame);
        return;
      }
    }
    return this.#send(frame, direction);
  }

  /**
   * Pushes twin frames both ways, linked by `broadcastSiblingId`. `make` is called twice so each
   * direction gets its own frame.
   */
  broadcastFrame(make: () => Frame): void | Promise<void> {
    const down = make();
    const up = make();
    down.broadcastSiblingId = up.id;
    up.broadcastSiblingId = down.id;
    const a = this.pushFrame(down, FrameDirection.DOWNSTREAM);
    const b = this.pushFrame(up, FrameDirection.UPSTREAM);
    if (a || b) return Promise.all([a, b]).then(() => undefined);
  }

  /** Reports an error: emits `error` and pushes an `ErrorFrame` upstream to the task. */
  pushError(error: Error | string, options: { fatal?: boolean } = {}): void | Promise<void> {
    const err = typeof error === "string" ? new Error(error) : error;
    const frame = new ErrorFrame(err, { fatal: options.fatal ?? false, processor: this.name });
    // Messages often name their processor already; say the name once.
    const text = err.message.startsWith(this.name) ? err.message : `${this.name}: ${err.message}`;
    this.logger.error(text, { processor: this.name, fatal: frame.fatal });
    this.emit("error", ...([frame] as unknown as Parameters<E["error"]>));
    return this.pushFrame(frame, FrameDirection.UPSTREAM);
  }

  // ---------------------------------------------------------------- hooks for subclasses

  /**
   * Handles a frame. The base implementation forwards it. `signal` is aborted when an
   * interruption (or cancel) makes this frame's work stale: hand it to every long operation.
   */
  processFrame(frame: Frame, direction: FrameDirection, _signal?: AbortSignal): void | Promise<void> {
    return this.pushFrame(frame, direction);
  }

  /** Runs when `StartFrame` arrives, before it is forwarded. Connect to services here. */
  protected start(_frame: StartFrame): void | Promise<void> {}

  /**
   * Runs when `EndFrame` reaches the head of the ordered lane (after every frame queued before
   * it), before it is forwarded. Flush and disconnect here.
   */
  protected end(_frame: EndFrame): void | Promise<void> {}

  /** Runs when `CancelFrame` arrives, before it is forwarded. Stop now; do not wait on remote peers. */
  protected cancel(_frame: CancelFrame): void | Promise<void> {}

  /** Runs once when the task tears the processor down. Release resources here. */
  protected cleanup(): void | Promise<void> {}

  /**
   * Runs when an `InterruptionFrame` arrives, after the lanes are flushed and before the
   * frame goes through {@link processFrame}.
   */
  protected onInterruption(): void {}

  // ---------------------------------------------------------------- teardown

  /**
   * Stops the processor for good: closes its lanes, aborts its work and runs {@link cleanup}.
   * Called by the task once it has ended or been cancelled; idempotent.
   */
  async teardown(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeLanes(new CancelledError(this.name, "torn down"));
    try {
      await this.cleanup();
    } catch (error) {
      this.#reportError(error, "cleaning up", true);
    }
  }

  // ---------------------------------------------------------------- internals

  static {
    sendFromTask = (edge, frame, direction) => edge.#forward(frame, direction);
  }

  #send(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const state = this.#state;
    if (
      (state === "cancelled" || state === "closed") &&
      !(frame.schedulingFlags & FrameFlags.CANCEL || frame instanceof ErrorFrame)
    ) {
      this.#dropped++;
      return;
    }
    const onPush = this.#context?.onPush;
    if (onPush) onPush(this, frame, direction);
    const target = direction === FrameDirection.DOWNSTREAM ? this.#next : this.#prev;
    if (target) return target.queueFrame(frame, direction);
  }

  /** Forwards a lifecycle frame: the one push of such a frame the base class allows itself. */
  #forward(frame: Frame, direction: FrameDirection): void | Promise<void> {
    this.#forwarding = frame;
    try {
      return this.pushFrame(frame, direction);
    } finally {
      this.#forwarding = undefined;
    }
  }

  /**
   * Gives timers and I/O one event-loop turn in the middle of a burst. The turn is marked as
   * work in progress (`clock.track`), so a virtual clock does not move time, and fire deadlines,
   * while a burst is still draining.
   */
  #yieldTurn(): Promise<void> {
    return this.#context ? nextTurn(this.#context.clock) : nextImmediate().then(() => undefined);
  }

  #newTurn(): Turn {
    return new Turn(this.id, (frame, direction, turn) => {
      if (!turn.active && !(frame.schedulingFlags & NEVER_STALE_FLAGS)) {
        this.#dropStale(frame);
        return;
      }
      return this.pushFrame(frame, direction);
    });
  }

  /** Ends the current turn (interruption) and starts the next one. */
  #endTurn(reason: Error): void {
    this.#turn.end(reason);
    this.#turn = this.#newTurn();
    this.#turnSignal = undefined;
    endedTurns.count++;
  }

  #dropStale(frame: Frame): void {
    if (this.#staleDropped++ === 0) {
      this.logger.debug(
        `${this.name}: dropped ${frame.name}, pushed by work of an interrupted turn (further drops are counted in staleFramesDropped)`,
        { processor: this.name },
      );
    }
  }

  #hold(frame: Frame): void {
    this.#holding = frame;
    this.#holdingSince = this.#context?.clock.now() ?? 0;
  }

  #release(frame: Frame): void {
    if (this.#holding === frame) this.#holding = undefined;
  }

  /**
   * Appends to a lane. Past the bound, one droppable frame goes, in O(1): the oldest when it is
   * droppable, else the one arriving. Lifecycle frames, interruptions and uninterruptible frames
   * are never dropped (a lane full of them alone may pass its bound: they are few by nature).
   */
  #enqueue(queue: FrameQueue, frame: Frame, direction: FrameDirection): void {
    if (queue.length >= this.#maxQueued) {
      const head = queue.peek()!;
      let dropped: Frame | undefined;
      if (!(head.schedulingFlags & KEEP_FLAGS)) {
        queue.shift();
        dropped = head;
      } else if (!(frame.schedulingFlags & KEEP_FLAGS)) {
        dropped = frame;
      }
      if (dropped) {
        this.#dropped++;
        if (queue === this.#system) this.#systemFrameHandled(); // it will never be handled: do not wait for it
        if (isPowerOfTen(this.#dropped)) {
          this.logger.warn(
            `${this.name}: lane over ${this.#maxQueued} frames; dropped ${dropped.name} (${this.#dropped} dropped so far). ` +
              "The processor is not keeping up: make it faster, or raise maxQueuedFrames if bursts are expected.",
            { processor: this.name, dropped: this.#dropped },
          );
        }
        if (dropped === frame) return;
      }
    }
    queue.push(frame, direction);
  }

  /**
   * `StartFrame` passes on at once, then the start hook runs; the lanes open when it is done.
   * So the start hooks of a pipeline run side by side, not one after another.
   */
  #onStart(frame: StartFrame, direction: FrameDirection): void | Promise<void> {
    if (this.#state !== "ready" && this.#state !== "created") return; // a second StartFrame is ignored
    this.#state = "running";
    const forwarded = this.#forward(frame, direction);
    this.#hold(frame); // until the hook is done: a start timeout names who is not ready
    void this.#runHook(() => this.start(frame), "starting").then(() => {
      this.#release(frame);
      this.#markReady();
      if (this.#state !== "running") return;
      this.#lanesOpen = true;
      this.#systemBusy = true;
      this.#wakeSystemLane();
      if (this.#state !== "running") return; // the first system frame cancelled it
      void turnStore.run(this.#turn, () => this.#runOrderedLane(this.#orderedGen));
    });
    return forwarded;
  }

  /** Runs a hook, reporting what it throws (a cancelled hook is not an error). */
  async #runHook(hook: () => void | Promise<void>, during: string): Promise<void> {
    try {
      await hook();
    } catch (error) {
      if (!(error instanceof CancelledError)) this.#reportError(error, during);
    }
  }

  /** Runs a lifecycle hook, reports what it throws, then forwards the frame (always). */
  async #runLifecycle(
    frame: Frame,
    direction: FrameDirection,
    hook: () => void | Promise<void>,
    during: string,
  ): Promise<void> {
    await this.#runHook(hook, during);
    this.#release(frame);
    await this.#forward(frame, direction);
  }

  #onCancel(frame: CancelFrame, direction: FrameDirection): void | Promise<void> {
    this.#hold(frame);
    this.#state = "cancelled";
    this.#closeLanes(new CancelledError(this.name, frame.reason));
    const done = this.#runLifecycle(frame, direction, () => this.cancel(frame), "cancelling");
    if (this.direct) return done;
  }

  #closeLanes(reason: Error): void {
    this.#orderedGen++;
    this.#system.close();
    this.#ordered.close();
    this.#inFlight = undefined;
    this.#resumeOrdered();
    this.#endBarriers.clear();
    const barrier = this.#systemBarrier;
    this.#systemBarrier = undefined;
    barrier?.resolve();
    this.#turn.end(reason);
    this.#life.end(reason);
    this.#markReady();
  }

  /**
   * Flushes the ordered lane the moment an interruption arrives (docs/design/interruption.md):
   * stale queued frames go, the turn ends (the frame in flight is aborted, unless
   * uninterruptible), and the lane pauses until the `InterruptionFrame` has been handled and
   * forwarded by the system lane, so nothing this processor produces after the interruption can
   * overtake it. Frames that arrive after the interruption are kept.
   */
  #beginInterruption(): void {
    const inFlight = this.#inFlight;
    this.#ordered.dropInterruptible();
    this.#interruptionsPending++;
    if (inFlight && isUninterruptible(inFlight)) return; // it must finish; only stale queued work goes
    this.#endTurn(new InterruptedError(this.name));
    if (!this.#lanesOpen) return; // the lane will start in the new turn
    // A fresh loop takes over in the new turn, so whatever the old turn's work pushes later is
    // known to be stale. The old loop exits when it wakes, or when (if ever) its handler settles.
    this.#inFlight = undefined;
    const gen = ++this.#orderedGen;
    void turnStore.run(this.#turn, () => this.#runOrderedLane(gen));
  }

  /** The system lane has forwarded an interruption: let the ordered lane run again. */
  #endInterruption(): void {
    if (this.#interruptionsPending > 0) this.#interruptionsPending--;
    if (this.#interruptionsPending === 0) this.#resumeOrdered();
  }

  #resumeOrdered(): void {
    const resume = this.#onResume;
    this.#onResume = undefined;
    resume?.();
  }

  #runInterruptionHook(): void {
    try {
      this.onInterruption();
    } catch (error) {
      this.#reportError(error, "handling an interruption");
    }
  }

  #queueDirect(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame.schedulingFlags & FrameFlags.START) {
      // Direct processors handle frames in the pusher's call, with no lane to hold them back:
      // their start hook runs before StartFrame passes on.
      if (this.#state !== "ready" && this.#state !== "created") return;
      this.#hold(frame);
      this.#state = "running";
      return this.#runLifecycle(frame, direction, () => this.start(frame as StartFrame), "starting").then(
        () => this.#markReady(),
      );
    }
    return this.#dispatch(frame, direction);
  }

  /** Handles one frame from a lane (or inline in direct mode), catching what it throws. */
  #dispatch(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const flags = frame.schedulingFlags;
    if (flags & SPECIAL_FRAME_FLAGS) {
      if (flags & FrameFlags.END) {
        const barrier = this.#endBarriers.get(frame);
        this.#endBarriers.delete(frame);
        if (barrier !== undefined && this.#systemHandled < barrier) {
          return this.#afterSystemFrames(barrier).then(() => this.#dispatch(frame, direction));
        }
        this.#hold(frame);
        return this.#runLifecycle(frame, direction, () => this.end(frame as EndFrame), "ending").then(() => {
          if (this.#state === "running") this.#state = "ended";
        });
      }
      if (flags & FrameFlags.INTERRUPTION)
        return this.#dispatchInterruption(frame as InterruptionFrame, direction);
    }
    try {
      const result = this.processFrame(frame, direction, (this.#turnSignal ??= this.#turn.signal));
      if (result) return result.catch((error: unknown) => this.#onHandlerError(error, frame));
    } catch (error) {
      this.#onHandlerError(error, frame);
    }
  }

  #dispatchInterruption(frame: InterruptionFrame, direction: FrameDirection): void | Promise<void> {
    if (this.direct) {
      // No lanes to flush: just make in-flight work of the turn stale.
      this.#endTurn(new InterruptedError(this.name));
    }
    this.#runInterruptionHook();
    let result: void | Promise<void> = undefined;
    try {
      result = this.processFrame(frame, direction, (this.#turnSignal ??= this.#turn.signal));
    } catch (error) {
      this.#onHandlerError(error, frame);
    }
    if (!result) {
      if (!this.direct) this.#endInterruption();
      return;
    }
    return result.then(
      () => {
        if (!this.direct) this.#endInterruption();
      },
      (error: unknown) => {
        this.#onHandlerError(error, frame);
        if (!this.direct) this.#endInterruption();
      },
    );
  }

  #onHandlerError(error: unknown, frame: Frame): void {
    // An aborted handler rejecting with its signal's reason is the expected outcome, not an error.
    if (error instanceof InterruptedError || error instanceof CancelledError) return;
    this.#reportError(error, `processing ${frame.name}`);
  }

  #reportError(error: unknown, during: string, logOnly = false): void {
    const wrapped = new ProcessorError(this.name, during, error);
    if (logOnly || this.#state === "closed") {
      this.logger.error(wrapped.message, { processor: this.name, error: describe(error) });
      return;
    }
    void this.pushError(wrapped);
  }

  /** Resolves once `count` system frames have been handled (or the lanes closed). */
  #afterSystemFrames(count: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#systemBarrier = { until: count, resolve };
    });
  }

  #systemFrameHandled(): void {
    this.#systemHandled++;
    const barrier = this.#systemBarrier;
    if (barrier && this.#systemHandled >= barrier.until) {
      this.#systemBarrier = undefined;
      barrier.resolve();
    }
  }

  /** Runs the system lane's drain outside any turn: system frames belong to none. */
  readonly #wakeSystemLane = (): void => {
    // `run(undefined)`, not `exit()`: on Node 20 exit() disables the store (and, if it is the only
    // one, the async hooks) for the call, which is a cost per wake.
    (turnStore as AsyncLocalStorage<Turn | undefined>).run(undefined, this.#drainSystemLane);
  };

  /**
   * Handles the system lane's frames in order until it is empty, a handler returns a promise
   * (then it goes on when that settles), or the turn's frame budget is spent (then it goes on
   * after a yield). A closed lane (cancel, teardown) stops it; it clears {@link #systemBusy} when
   * it stops for want of frames, so the next push wakes it.
   */
  readonly #drainSystemLane = (): void => {
    const queue = this.#system;
    for (;;) {
      const frame = queue.closed ? undefined : queue.shift();
      if (frame === undefined) {
        this.#systemBusy = false;
        return;
      }
      const result = this.#dispatch(frame, queue.lastDirection!);
      if (result) {
        void result.then(this.#afterSystemHandler);
        return;
      }
      this.#systemFrameHandled();
      if (spendFrame()) {
        void this.#yieldTurn().then(this.#drainSystemLane);
        return;
      }
    }
  };

  readonly #afterSystemHandler = (): void => {
    this.#systemFrameHandled();
    if (spendFrame()) {
      void this.#yieldTurn().then(this.#drainSystemLane);
      return;
    }
    this.#drainSystemLane();
  };

  async #runOrderedLane(gen: number): Promise<void> {
    const queue = this.#ordered;
    while (gen === this.#orderedGen && !queue.closed) {
      if (this.#interruptionsPending > 0) {
        this.#resumeOrdered(); // a loop of an ended turn still waiting: let it see it is detached
        await new Promise<void>((resolve) => {
          this.#onResume = resolve;
        });
        continue;
      }
      const frame = queue.shift();
      if (frame === undefined) {
        await queue.wait();
        continue;
      }
      this.#inFlight = frame;
      const result = this.#dispatch(frame, queue.lastDirection!);
      if (result) await result;
      if (gen !== this.#orderedGen) return; // detached by an interruption or cancel
      this.#inFlight = undefined;
      if (spendFrame()) await this.#yieldTurn();
    }
  }
}

/** 1, 10, 100, …: a repeated warning is logged at these counts only. */
function isPowerOfTen(n: number): boolean {
  while (n >= 10 && n % 10 === 0) n /= 10;
  return n === 1;
}

function lifecycleMisuse(processor: string, frame: Frame): MisuseError {
  const name = frame.constructor.name;
  const instead =
    name === "EndFrame"
      ? "push an EndTaskFrame upstream to ask the task to end"
      : name === "CancelFrame"
        ? "push a CancelTaskFrame upstream to ask the task to cancel"
        : "the task sends it when it runs";
  return new MisuseError(
    `${processor} pushed a ${name} of its own; only the task sends ${name}s: ${instead}`,
  );
}

const fallbackLogger = createConsoleLogger("warn");

/**
 * How the task sends a lifecycle frame from its own edge of the pipeline (the one place a
 * lifecycle frame is created and pushed). @internal
 */
export function sendLifecycleFrame(
  edge: FrameProcessor,
  frame: Frame,
  direction: FrameDirection,
): void | Promise<void> {
  return sendFromTask(edge, frame, direction);
}
