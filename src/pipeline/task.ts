import type { Clock, TimerHandle } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { SystemClock } from "../clock/system-clock.js";
import { ErrorFrame } from "../frames/error.js";
import { Frame, FrameDirection, FrameFlags } from "../frames/frame.js";
import {
  CancelFrame,
  CancelTaskFrame,
  EndFrame,
  EndTaskFrame,
  HeartbeatFrame,
  InterruptionFrame,
  InterruptionTaskFrame,
  StartFrame,
} from "../frames/lifecycle.js";
import { BotSpeakingFrame, UserSpeakingFrame } from "../frames/speaking.js";
import {
  CancelledError,
  InvalidOptionError,
  LifecycleTimeoutError,
  MisuseError,
  TaskClosedError,
  type TimeoutStage,
  describe,
} from "../errors.js";
import { type EventMap, TypedEvents } from "../events.js";
import { type Logger, createConsoleLogger } from "../logger.js";
import { ObserverDispatcher, type ObserverDispatcherLimits } from "../observers/observer-dispatcher.js";
import type { FramePushedEvent, Observer } from "../observers/observer.js";
import { type FrameProcessor, sendLifecycleFrame } from "../processors/frame-processor.js";
import type { ProcessorContext } from "../processors/processor-context.js";
import { ContainerEdge, Pipeline, flattenProcessors } from "./pipeline.js";
import { HeartbeatMonitor, IdleMonitor } from "./task-monitors.js";
import {
  type FrameClass,
  type PipelineParams,
  type PipelineTaskOptions,
  resolvePipelineParams,
} from "./task-options.js";

/** Frames the task acts on when they reach an end of the pipeline (besides heartbeats). */
const AT_END_FLAGS = FrameFlags.START | FrameFlags.END | FrameFlags.CANCEL | FrameFlags.TASK;

/** Reported by the `timeout` event: a lifecycle stage overran its deadline. */
export interface TaskTimeoutEvent {
  readonly stage: TimeoutStage;
  /** The processor that held the stage up, when it could be named. */
  readonly processor: string | undefined;
  readonly waitedMs: number;
  readonly error: LifecycleTimeoutError;
}

/**
 * How a task ended, and why: what `run()`, `stopWhenDone()`, `cancel()` and
 * `PipelineRunner.run()` resolve with (docs/design/lifecycle.md).
 */
export interface TaskOutcome {
  /**
   * - `"ended"`: the `EndFrame` came out of the pipeline (everything queued was played).
   * - `"cancelled"`: `cancel()`, an idle timeout, a signal, or a start or end deadline.
   * - `"failed"`: a fatal `ErrorFrame` cancelled the task; `error` says what went wrong.
   */
  readonly how: "ended" | "cancelled" | "failed";
  /** Why, in words: the cancel reason, the deadline that fired, or the fatal error's message. */
  readonly reason: string | undefined;
  /** The fatal error, when `how` is `"failed"`. */
  readonly error: Error | undefined;
  /** The processor that reported the fatal error, when known. */
  readonly processor: string | undefined;
  /** The `EndFrame` or `CancelFrame` that ended the task. */
  readonly frame: Frame;
}

/** Events of a {@link PipelineTask}. Handlers never block the task. */
export interface PipelineTaskEvents extends EventMap {
  /** `StartFrame` reached the end of the pipeline. */
  pipelineStarted: () => void;
  /** The task finished; `frame` is the `EndFrame` or `CancelFrame` that ended it. */
  pipelineFinished: (frame: Frame, outcome: TaskOutcome) => void;
  /** An `ErrorFrame` reached the task. */
  pipelineError: (frame: ErrorFrame) => void;
  /** Nothing in `idleTimeoutFrames` was pushed for `idleTimeoutMs`. */
  idleTimeout: () => void;
  /** No heartbeat came through for `heartbeatsMonitorMs`. */
  heartbeatTimeout: (sinceMs: number) => void;
  /** A lifecycle deadline fired. */
  timeout: (event: TaskTimeoutEvent) => void;
}

type TaskState = "created" | "starting" | "running" | "ending" | "cancelling" | "finished";

let nextTaskId = 1;

/**
 * Runs one pipeline: hands every processor the clock, sends `StartFrame`, feeds the frames you
 * queue, and ends it, always (docs/design/lifecycle.md).
 *
 * **Termination contract.** `stopWhenDone()` queues an `EndFrame` behind everything queued
 * before it and resolves when it has come out of the pipeline; if the end makes no progress
 * for `endTimeoutMs` the task escalates to `cancel()`. `cancel()` resolves within
 * `cancelTimeoutMs` whatever a processor does; a processor that held it up is named in the
 * `timeout` event and the log. After either, every processor is torn down and the task leaves
 * no timer of its own behind. Both are idempotent; frames queued after either are refused with
 * a `TaskClosedError`.
 *
 * @example
 * const task = new PipelineTask(new Pipeline([a, b, c]), { idleTimeoutMs: 60_000 });
 * task.on("pipelineFinished", () => console.log("done"));
 * const done = task.run();
 * task.queueFrame(new TextFrame("hello"));
 * await task.stopWhenDone();
 */
export class PipelineTask {
  readonly name: string;
  readonly clock: Clock;
  readonly params: Readonly<PipelineParams>;
  readonly logger: Logger;
  readonly #pipeline: FrameProcessor;
  readonly #source: ContainerEdge;
  readonly #sink: ContainerEdge;
  readonly #events: TypedEvents<PipelineTaskEvents>;
  readonly #dispatchers: ObserverDispatcher[] = [];
  readonly #observerLimits: ObserverDispatcherLimits;

  readonly #idleTimeoutMs: number | null;
  readonly #idleFrames: readonly FrameClass[];
  readonly #cancelOnIdle: boolean;
  readonly #startTimeoutMs: number;
  readonly #endTimeoutMs: number;
  readonly #cancelTimeoutMs: number;
  readonly #cleanupTimeoutMs: number;

  #state: TaskState = "created";
  #processors: FrameProcessor[] = [];
  #pending: Array<[Frame, FrameDirection]> = [];
  #runPromise: Promise<TaskOutcome> | undefined;
  #cancelPromise: Promise<TaskOutcome> | undefined;
  readonly #finished: Promise<TaskOutcome>;
  #resolveFinished!: (outcome: TaskOutcome) => void;
  #outcome: TaskOutcome | undefined;
  #cancelReached: (() => void) | undefined;
  /** The graceful end's teardown, while it runs: a cancel then waits for it instead. */
  #endTeardown: Promise<void> | undefined;
  /** The fatal error that made the task cancel itself, if any. */
  #fatal: ErrorFrame | undefined;
  #startReachedSink = false;
  #settleStarted!: (started: boolean) => void;
  readonly #pipelineStarted = new Promise<boolean>((resolve) => {
    this.#settleStarted = resolve;
  });
  #processorsReady = false;
  /** Requests and errors already acted on (they are seen where pushed, and again at the end). */
  readonly #taskFramesSeen = new WeakSet<Frame>();
  /** Aborted when the task finishes. */
  readonly #over = new AbortController();

  #startTimer: TimerHandle | undefined;
  #endTimer: TimerHandle | undefined;
  readonly #idle: IdleMonitor | undefined;
  readonly #heartbeats: HeartbeatMonitor | undefined;
  #endFrame: EndFrame | undefined;
  #lastEndProgress = 0;

  constructor(pipeline: FrameProcessor, options: PipelineTaskOptions = {}) {
    this.name = options.name ?? `PipelineTask#${nextTaskId++}`;
    this.clock = options.clock ?? new SystemClock();
    this.logger = options.logger ?? createConsoleLogger("warn");
    this.params = resolvePipelineParams(options.params);
    this.#idleTimeoutMs = options.idleTimeoutMs === undefined ? 300_000 : options.idleTimeoutMs;
    this.#idleFrames = checkFrameClasses(
      "PipelineTask: idleTimeoutFrames",
      options.idleTimeoutFrames ?? [BotSpeakingFrame, UserSpeakingFrame],
    );
    this.#cancelOnIdle = options.cancelOnIdleTimeout ?? true;
    this.#startTimeoutMs = checkMs("startTimeoutMs", options.startTimeoutMs ?? 20_000);
    this.#endTimeoutMs = checkMs("endTimeoutMs", options.endTimeoutMs ?? 10_000);
    this.#cancelTimeoutMs = checkMs("cancelTimeoutMs", options.cancelTimeoutMs ?? 2_000);
    this.#cleanupTimeoutMs = checkMs("cleanupTimeoutMs", options.cleanupTimeoutMs ?? 2_000);
    if (this.#idleTimeoutMs !== null) checkMs("idleTimeoutMs", this.#idleTimeoutMs);
    checkMs("params.heartbeatsPeriodMs", this.params.heartbeatsPeriodMs);
    checkMs("params.heartbeatsMonitorMs", this.params.heartbeatsMonitorMs);
    this.#observerLimits = {
      bufferSize: positiveInt("observerBufferSize", options.observerBufferSize ?? 1024),
      maxBacklog: positiveInt("observerMaxBacklog", options.observerMaxBacklog ?? 10_000),
    };
    if (this.#idleTimeoutMs !== null) {
      this.#idle = new IdleMonitor(this.clock, this.#idleTimeoutMs, (ms) => this.#onIdle(ms));
    }
    if (this.params.enableHeartbeats) {
      this.#heartbeats = new HeartbeatMonitor(
        this.clock,
        this.params.heartbeatsPeriodMs,
        this.params.heartbeatsMonitorMs,
        () => this.#push(new HeartbeatFrame(this.clock.now()), FrameDirection.DOWNSTREAM),
        (since) => this.#onHeartbeatStall(since),
      );
    }
    this.#events = new TypedEvents<PipelineTaskEvents>(this.name, () => this.logger);
    for (const observer of options.observers ?? []) this.addObserver(observer);

    this.#pipeline = pipeline;
    this.#source = new ContainerEdge(`${this.name}::source`, (frame, direction) => {
      if (direction === FrameDirection.UPSTREAM) this.#onFrameAtEnd(frame, direction);
    });
    this.#sink = new ContainerEdge(`${this.name}::sink`, (frame, direction) => {
      if (direction === FrameDirection.DOWNSTREAM) this.#onFrameAtEnd(frame, direction);
    });
    if (pipeline.prev !== undefined || pipeline.next !== undefined) {
      throw new MisuseError(
        `${this.name}: ${pipeline.name} already belongs to a task (a pipeline runs once, in one task); ` +
          "build a new pipeline, with new processors, for each task",
      );
    }
    this.#source.link(pipeline);
    pipeline.link(this.#sink);
    this.#finished = new Promise<TaskOutcome>((resolve) => {
      this.#resolveFinished = resolve;
    });
  }

  // ---------------------------------------------------------------- public API

  /** Adds an event handler; returns a function that removes it. */
  on<K extends keyof PipelineTaskEvents>(event: K, handler: PipelineTaskEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** Removes an event handler. */
  off<K extends keyof PipelineTaskEvents>(event: K, handler: PipelineTaskEvents[K]): void {
    this.#events.off(event, handler);
  }

  /** Adds an observer (see `Observer`). */
  addObserver(observer: Observer): void {
    if (observer.frameTypes !== undefined)
      checkFrameClasses(`${this.name}: an observer's frameTypes`, observer.frameTypes);
    this.#dispatchers.push(new ObserverDispatcher(observer, this.logger, this.#observerLimits));
  }

  /** Removes an observer. */
  removeObserver(observer: Observer): void {
    const i = this.#dispatchers.findIndex((d) => d.observer === observer);
    if (i >= 0) this.#dispatchers.splice(i, 1)[0]!.close();
  }

  /** Whether the task has finished (ended, cancelled or failed). */
  hasFinished(): boolean {
    return this.#state === "finished";
  }

  /** How the task ended, once it has finished. */
  get outcome(): TaskOutcome | undefined {
    return this.#outcome;
  }

  /** Every processor in the pipeline, flattened (available once `run()` has been called). */
  get processors(): readonly FrameProcessor[] {
    return this.#processors;
  }

  /**
   * Runs the task: sets processors up, sends `StartFrame`, and resolves with the
   * {@link TaskOutcome} when the task has finished: ended, cancelled, or failed on a fatal
   * error. It never rejects, so one failed session cannot take a server of many down with an
   * unhandled rejection: look at `outcome.how`. Calling it again returns the same promise.
   */
  run(): Promise<TaskOutcome> {
    this.#runPromise ??= this.#run();
    return this.#runPromise;
  }

  /**
   * Queues `frame` into the pipeline: downstream frames enter at the head, upstream frames at
   * the tail. Throws `TaskClosedError` once the task is ending, cancelled or finished.
   * Queuing an `EndFrame` is `stopWhenDone()`; a `CancelFrame` is `cancel()`; a `StartFrame` is
   * refused with a `MisuseError` (the task sends the one `StartFrame` itself).
   */
  queueFrame(frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM): void {
    if (!(frame instanceof Frame)) {
      throw new InvalidOptionError(
        `${this.name}.queueFrame: expected a Frame (e.g. new TextFrame("hi")), got ${describeValue(frame)}`,
      );
    }
    if (direction !== FrameDirection.DOWNSTREAM && direction !== FrameDirection.UPSTREAM) {
      throw new InvalidOptionError(
        `${this.name}.queueFrame: direction must be FrameDirection.DOWNSTREAM or UPSTREAM (got ${String(direction)})`,
      );
    }
    if (frame instanceof StartFrame) {
      throw new MisuseError(
        `${this.name}.queueFrame: a StartFrame is sent by the task itself when it runs; queue work frames only`,
      );
    }
    if (frame instanceof EndFrame) {
      void this.stopWhenDone();
      return;
    }
    if (frame instanceof CancelFrame) {
      void this.cancel(frame.reason);
      return;
    }
    this.#refuseIfClosed();
    this.#inject(frame, direction);
  }

  /** Queues several frames, in order. */
  queueFrames(frames: Iterable<Frame>, direction: FrameDirection = FrameDirection.DOWNSTREAM): void {
    for (const frame of frames) this.queueFrame(frame, direction);
  }

  /**
   * Ends the task after everything queued before this call has been processed and played.
   * Guarantees: once the task runs, resolves with its outcome when it has finished; if the end
   * makes no progress for `endTimeoutMs` it escalates to `cancel()`, so it always resolves.
   * Called before `run()`, it queues the end behind the frames queued so far and its deadline
   * starts when `run()` does (queue work, then `stopWhenDone()`, then `run()`, for a batch).
   * Does not guarantee that providers flushed their own buffers; use `cancel()` to stop now.
   */
  stopWhenDone(): Promise<TaskOutcome> {
    if (this.#state === "created" || this.#state === "starting" || this.#state === "running") {
      const before = this.#state;
      this.#state = "ending";
      this.#stopActivityTimers();
      this.#endFrame = new EndFrame();
      if (before !== "created") this.#armEndWatchdog();
      this.#inject(this.#endFrame, FrameDirection.DOWNSTREAM);
    }
    return this.#finished;
  }

  /**
   * Stops the task now. Guarantees: resolves with the outcome within `cancelTimeoutMs`,
   * whatever a processor does; a processor that held it up is named in the `timeout` event. A
   * second call returns the same promise; after the task finished it resolves at once. During
   * a graceful end's cleanup (the `EndFrame` has already come through) it waits for that
   * cleanup, within the same bound, and the task still counts as ended.
   */
  cancel(reason?: string): Promise<TaskOutcome> {
    if (this.#state === "finished") return this.#finished;
    this.#cancelPromise ??= this.#cancel(reason);
    return this.#cancelPromise;
  }

  // ---------------------------------------------------------------- running

  async #run(): Promise<TaskOutcome> {
    if (this.#state === "finished") return this.#finished;
    this.#processors = flattenProcessors(this.#pipeline);
    const context: ProcessorContext = {
      clock: this.clock,
      logger: this.logger,
      taskName: this.name,
      onPush: (source, frame, direction) => this.#onPush(source, frame, direction),
      pipelineStarted: this.#pipelineStarted,
      reportProgress: () => {
        this.#lastEndProgress = this.clock.now();
      },
    };
    this.#source.setup(context);
    this.#sink.setup(context);
    try {
      this.#pipeline.setup(context);
    } catch (error) {
      // A processor's setup() threw: nothing can run. The task fails with the error; run()
      // still resolves, never rejects.
      const cause = error instanceof Error ? error : new Error(describe(error));
      this.logger.error(`${this.name}: setting the pipeline up failed: ${cause.message}`, {
        task: this.name,
      });
      this.#fatal ??= new ErrorFrame(cause, { fatal: true });
      await this.cancel(`setup failed: ${cause.message}`);
      return this.#finished;
    }
    if (this.#state === "created") this.#state = "starting";
    if (this.#state === "ending") this.#armEndWatchdog(); // stopWhenDone() came before run()
    if (this.#state !== "cancelling") {
      const start = new StartFrame({
        audioInSampleRate: this.params.audioInSampleRate,
        audioOutSampleRate: this.params.audioOutSampleRate,
      });
      this.#startTimer = this.clock.setTimer(() => this.#onStartTimeout(start), this.#startTimeoutMs);
      // Containers only link their children; the leaves are the processors that start.
      const leaves = this.#processors.filter((p) => p.children.length === 0 && !(p instanceof Pipeline));
      void Promise.all(leaves.map((p) => p.whenReady())).then(() => this.#onProcessorsReady());
      this.#push(start, FrameDirection.DOWNSTREAM);
      const pending = this.#pending;
      this.#pending = [];
      for (const [frame, direction] of pending) this.#push(frame, direction);
    }
    return this.#finished;
  }

  #inject(frame: Frame, direction: FrameDirection): void {
    if (!this.#runPromise || this.#processors.length === 0) {
      this.#pending.push([frame, direction]);
      return;
    }
    this.#push(frame, direction);
  }

  #push(frame: Frame, direction: FrameDirection): void {
    const edge = direction === FrameDirection.DOWNSTREAM ? this.#source : this.#sink;
    let r: void | Promise<void>;
    try {
      r = sendLifecycleFrame(edge, frame, direction);
    } catch (error) {
      this.logger.error(`${this.name}: pushing ${frame.name} failed`, { error });
      return;
    }
    if (r)
      r.catch((error: unknown) => this.logger.error(`${this.name}: pushing ${frame.name} failed`, { error }));
  }

  #refuseIfClosed(): void {
    if (this.#state === "ending") throw new TaskClosedError(this.name, "ending");
    if (this.#state === "cancelling") throw new TaskClosedError(this.name, "cancelled");
    if (this.#state === "finished") throw new TaskClosedError(this.name, "finished");
  }

  /** Called for every push by any processor: must stay cheap. */
  #onPush(source: FrameProcessor, frame: Frame, direction: FrameDirection): void {
    // Requests and errors for the task are acted on where they are pushed, not when they come out
    // of the pipeline: a processor stuck between them and the task would hold them for ever.
    if (frame.schedulingFlags & FrameFlags.TASK) this.#onFrameAtEnd(frame, direction);
    // Progress of the end is the EndFrame moving on, and the output reporting played audio
    // (reportProgress); audio pushed by any other processor (a timer) is not: it would keep a
    // stuck end alive for ever.
    if (this.#state === "ending" && frame === this.#endFrame) {
      this.#lastEndProgress = this.clock.now();
    }
    if (this.#idle?.watching) {
      for (const cls of this.#idleFrames) {
        if (frame instanceof cls) {
          this.#idle.activity();
          break;
        }
      }
    }
    if (this.#dispatchers.length > 0) {
      let event: FramePushedEvent | undefined;
      for (const d of this.#dispatchers) {
        if (!d.wants(frame)) continue;
        event ??= {
          source,
          destination: direction === FrameDirection.DOWNSTREAM ? source.next : source.prev,
          frame,
          direction,
          timestampMs: this.clock.now(),
        };
        d.push(event);
      }
    }
  }

  /** A frame came out of either end of the pipeline. */
  #onFrameAtEnd(frame: Frame, direction: FrameDirection): void {
    // Most frames reaching an end of the pipeline concern the task not at all: tell them apart by
    // their flags, not by a chain of instanceof checks on every frame.
    if (!(frame.schedulingFlags & AT_END_FLAGS) && !(frame instanceof HeartbeatFrame)) return;
    if (frame.schedulingFlags & FrameFlags.TASK) {
      if (this.#taskFramesSeen.has(frame)) return; // acted on once: where it was first pushed
      this.#taskFramesSeen.add(frame);
    }
    if (frame instanceof StartFrame) {
      if (direction === FrameDirection.DOWNSTREAM) {
        this.#startReachedSink = true;
        this.#maybeStarted();
      }
    } else if (frame instanceof EndFrame) {
      if (frame === this.#endFrame) void this.#finishGracefully(frame);
    } else if (frame instanceof CancelFrame) {
      this.#cancelReached?.();
    } else if (frame instanceof HeartbeatFrame) {
      this.#heartbeats?.received();
    } else if (frame instanceof ErrorFrame) {
      this.#events.emit("pipelineError", frame);
      if (frame.fatal && this.#state !== "finished") {
        // The processor logged the error itself: say only what the task does about it.
        this.logger.info(
          `${this.name}: cancelling after the fatal error from ${frame.processor ?? "a processor"}`,
          {
            task: this.name,
          },
        );
        this.#fatal ??= frame;
        this.#later(() => void this.cancel(`fatal error: ${frame.error.message}`));
      }
    } else if (frame instanceof EndTaskFrame) {
      this.#later(() => void this.stopWhenDone());
    } else if (frame instanceof CancelTaskFrame) {
      this.#later(() => void this.cancel(frame.reason ?? "CancelTaskFrame"));
    } else if (frame instanceof InterruptionTaskFrame) {
      this.#later(() => this.#interrupt());
    }
  }

  /** Acts on a request outside the processor call that delivered it. */
  #later(fn: () => void): void {
    queueMicrotask(fn);
  }

  /**
   * An `InterruptionTaskFrame` asked to interrupt: honoured while the pipeline runs and while it
   * ends (a user may barge in on the goodbye; the `EndFrame` itself is never interrupted), and
   * ignored, with a log line saying why, once it is cancelling or finished.
   */
  #interrupt(): void {
    if (this.#state === "running" || this.#state === "ending" || this.#state === "starting") {
      this.#push(new InterruptionFrame(), FrameDirection.DOWNSTREAM);
      return;
    }
    this.logger.info(`${this.name}: InterruptionTaskFrame ignored: the task is ${this.#state}`, {
      task: this.name,
    });
  }

  #onProcessorsReady(): void {
    this.#processorsReady = true;
    this.#maybeStarted();
  }

  /** Started: `StartFrame` came out of the pipeline and every processor's start hook is done. */
  #maybeStarted(): void {
    if (!this.#startReachedSink || !this.#processorsReady) return;
    this.#startTimer?.cancel();
    this.#startTimer = undefined;
    if (this.#state === "starting" || this.#state === "ending") this.#settleStarted(true);
    if (this.#state !== "starting") return; // ending or cancelling already
    this.#state = "running";
    // Monitors first: a handler may end or cancel the task, and that must stop them.
    this.#idle?.start();
    this.#heartbeats?.start();
    this.#events.emit("pipelineStarted");
  }

  // ---------------------------------------------------------------- timers

  #onIdle(idleForMs: number): "keep watching" | "stop" {
    this.logger.info(`${this.name}: idle for ${idleForMs} ms`, { task: this.name });
    this.#events.emit("idleTimeout");
    if (!this.#cancelOnIdle) return "keep watching";
    void this.cancel("idle timeout");
    return "stop";
  }

  #onHeartbeatStall(sinceMs: number): void {
    this.logger.warn(`${this.name}: no heartbeat for ${sinceMs} ms; a processor's ordered lane is stalled`, {
      task: this.name,
      stalled: this.#firstBusyProcessor(),
    });
    this.#events.emit("heartbeatTimeout", sinceMs);
  }

  #armEndWatchdog(): void {
    const due = this.#lastEndProgress + this.#endTimeoutMs;
    this.#endTimer = this.clock.setTimer(() => {
      if (this.#state !== "ending") return;
      if (this.clock.now() - this.#lastEndProgress < this.#endTimeoutMs) {
        this.#armEndWatchdog();
        return;
      }
      this.#timedOut("end", this.#endFrame, this.#endTimeoutMs, "cancelling the task");
      void this.cancel("end timeout");
    }, due - this.clock.now());
  }

  #onStartTimeout(start: StartFrame): void {
    this.#startTimer = undefined;
    if (this.#state !== "starting") return;
    this.#timedOut("start", start, this.#startTimeoutMs, "cancelling the task");
    void this.cancel("start timeout");
  }

  #stopActivityTimers(): void {
    this.#idle?.stop();
    this.#heartbeats?.stop();
  }

  #stopAllTimers(): void {
    this.#stopActivityTimers();
    this.#startTimer?.cancel();
    this.#endTimer?.cancel();
    this.#startTimer = this.#endTimer = undefined;
  }

  /** Reports a deadline that fired, naming the processor that held `frame` (the last one in order). */
  #timedOut(
    stage: TimeoutStage,
    frame: Frame | undefined,
    waitedMs: number,
    then: string,
    who?: string,
  ): void {
    const processor = who ?? (frame ? this.#holderOf(frame) : undefined);
    const error = new LifecycleTimeoutError(stage, processor, waitedMs, then);
    this.logger.warn(error.message, { task: this.name, stage, processor });
    this.#events.emit("timeout", { stage, processor, waitedMs, error });
  }

  /** Who holds `frame`: the last holder in order, or, for `StartFrame`, every processor not ready. */
  #holderOf(frame: Frame): string | undefined {
    const holders = this.#processors.filter((p) => p.holding?.frame === frame).map((p) => p.name);
    if (holders.length === 0) return undefined;
    return frame instanceof StartFrame ? holders.join(", ") : holders.at(-1);
  }

  #firstBusyProcessor(): string | undefined {
    return this.#processors.find((p) => p.queuedFrames > 0)?.name;
  }

  // ---------------------------------------------------------------- ending

  async #cancel(reason?: string): Promise<TaskOutcome> {
    const endTeardown = this.#endTeardown;
    if (endTeardown) {
      // The EndFrame came through and cleanup is running: nothing is left to cancel. Wait for
      // the cleanup within the cancel bound; the task still ended by its EndFrame.
      const inTime = await this.#until(endTeardown, this.clock.now() + this.#cancelTimeoutMs);
      if (!inTime) {
        this.#timedOut("cleanup", undefined, this.#cancelTimeoutMs, "leaving its cleanup running detached");
        this.#finish(this.#endFrame!);
      }
      return this.#finished;
    }
    const previous = this.#state;
    this.#state = "cancelling";
    this.#stopAllTimers();
    if (previous === "created" || !this.#runPromise) {
      // Nothing was started: there is nothing to wait for, but processors may hold what their
      // constructors took (a socket handed over): their cleanup hooks still run, within the bound.
      this.#pending = [];
      const frame = new CancelFrame(reason);
      if (this.#processors.length === 0) this.#processors = flattenProcessors(this.#pipeline);
      await this.#teardownAll(this.clock.now() + this.#cancelTimeoutMs, "cancel");
      this.#finish(frame);
      return this.#finished;
    }
    const deadline = this.clock.now() + this.#cancelTimeoutMs;
    // A fatal error travels with the cancel it caused: the processors on the way may give the
    // client their last words about it (CancelFrame.addLastWords), the output writes them.
    const frame = new CancelFrame(reason, this.#fatal ? { error: this.#fatal } : {});
    const reached = new Promise<void>((resolve) => {
      this.#cancelReached = resolve;
    });
    this.#push(frame, FrameDirection.DOWNSTREAM);
    const inTime = await this.#until(reached, deadline);
    if (!inTime) this.#timedOut("cancel", frame, this.#cancelTimeoutMs, "tearing the pipeline down anyway");
    await this.#teardownAll(deadline, "cancel");
    this.#finish(frame);
    return this.#finished;
  }

  async #finishGracefully(frame: EndFrame): Promise<void> {
    if (this.#state !== "ending" || this.#endTeardown) return; // a cancel overtook the end
    this.#stopAllTimers();
    this.#endTeardown = this.#teardownAll(this.clock.now() + this.#cleanupTimeoutMs, "cleanup");
    await this.#endTeardown;
    if (this.#state === "ending") this.#finish(frame);
  }

  /** Tears every processor down, waiting for their cleanup hooks until `deadline` at most. */
  async #teardownAll(deadline: number, stage: TimeoutStage): Promise<void> {
    const budgetMs = Math.max(0, deadline - this.clock.now());
    const pending = new Set<FrameProcessor>();
    const all = this.#processors.map((p) => {
      pending.add(p);
      return p.teardown().finally(() => pending.delete(p));
    });
    const inTime = await this.#until(Promise.allSettled(all), deadline);
    if (!inTime) {
      const names = [...pending].map((p) => p.name).join(", ");
      this.#timedOut(stage, undefined, budgetMs, "leaving its cleanup running detached", names);
    }
  }

  /** Resolves true when `promise` settles before `at` (task clock), false otherwise. */
  #until(promise: Promise<unknown>, at: number): Promise<boolean> {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    // Aborted when the task finishes: a wait the task no longer needs leaves no timer behind.
    const signal = this.#over.signal;
    return deadline(this.clock, settled, Math.max(0, at - this.clock.now()), this.name, { signal }).then(
      () => true,
      (error: unknown) => {
        if (error instanceof DeadlineExceededError) return false;
        if (signal.aborted) return true; // the task finished meanwhile: nothing to report
        throw error;
      },
    );
  }

  #finish(frame: Frame): void {
    if (this.#state === "finished") return;
    this.#state = "finished";
    this.#stopAllTimers();
    this.#pending = [];
    this.#cancelReached = undefined;
    for (const d of this.#dispatchers) d.close();
    const fatal = this.#fatal;
    const outcome: TaskOutcome = Object.freeze({
      how: frame instanceof EndFrame ? "ended" : fatal ? "failed" : "cancelled",
      reason: frame instanceof CancelFrame ? frame.reason : undefined,
      error: frame instanceof EndFrame ? undefined : fatal?.error,
      processor: frame instanceof EndFrame ? undefined : fatal?.processor,
      frame,
    });
    this.#outcome = outcome;
    // A reason of our own: without one, abort() makes a DOMException, stack and all.
    this.#over.abort(new CancelledError(this.name, "task finished"));
    this.#settleStarted(false);
    this.#events.emit("pipelineFinished", frame, outcome);
    this.#resolveFinished(outcome);
  }
}

/**
 * A duration option: finite and at least 1 ms. A sub-millisecond deadline means nothing on any
 * clock, and one so small that `now + ms === now` would re-arm at the same instant for ever.
 */
function checkMs(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
    throw new InvalidOptionError(
      `PipelineTask: ${name} must be a finite number of ms, at least 1 (got ${String(value)})`,
    );
  }
  return value;
}

/** Throws unless `classes` is an array of frame classes (checked with `instanceof` on every push). */
function checkFrameClasses<T>(what: string, classes: readonly T[]): readonly T[] {
  if (
    !Array.isArray(classes) ||
    !classes.every((c) => typeof c === "function" && c.prototype instanceof Frame)
  ) {
    throw new InvalidOptionError(
      `${what} must be an array of frame classes, e.g. [TranscriptionFrame] (got ${String(classes)})`,
    );
  }
  return classes;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(`PipelineTask: ${name} must be a whole number ≥ 1 (got ${String(value)})`);
  }
  return value;
}

function describeValue(value: unknown): string {
  if (value === null || typeof value !== "object") return String(value);
  return `an object of type ${value.constructor?.name ?? "Object"}`;
}
