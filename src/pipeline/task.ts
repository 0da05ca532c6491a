import type { Clock, TimerHandle } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { OutputAudioRawFrame } from "../frames/audio.js";
import { ErrorFrame } from "../frames/error.js";
import { Frame, FrameDirection } from "../frames/frame.js";
import {
  CancelFrame,
  CancelTaskFrame,
  EndFrame,
  EndTaskFrame,
  HeartbeatFrame,
  InterruptionFrame,
  InterruptionTaskFrame,
  StartFrame,
  StopFrame,
  StopTaskFrame,
} from "../frames/lifecycle.js";
import { BotSpeakingFrame, UserSpeakingFrame } from "../frames/speaking.js";
import { InvalidOptionError, LifecycleTimeoutError, TaskClosedError, type TimeoutStage } from "../errors.js";
import { type EventMap, TypedEvents } from "../events.js";
import { type Logger, createConsoleLogger } from "../logger.js";
import { ObserverDispatcher } from "../observers/observer-dispatcher.js";
import type { Observer } from "../observers/observer.js";
import type { FrameProcessor } from "../processors/frame-processor.js";
import type { ProcessorContext } from "../processors/processor-context.js";
import { ContainerEdge, flattenProcessors } from "./pipeline.js";
import { HeartbeatMonitor, IdleMonitor } from "./task-monitors.js";
import {
  type FrameClass,
  type PipelineParams,
  type PipelineTaskOptions,
  resolvePipelineParams,
} from "./task-options.js";

/** Reported by the `timeout` event: a lifecycle stage overran its deadline. */
export interface TaskTimeoutEvent {
  readonly stage: TimeoutStage;
  /** The processor that held the stage up, when it could be named. */
  readonly processor: string | undefined;
  readonly waitedMs: number;
  readonly error: LifecycleTimeoutError;
}

/** Events of a {@link PipelineTask}. Handlers never block the task. */
export interface PipelineTaskEvents extends EventMap {
  /** `StartFrame` reached the end of the pipeline. */
  pipelineStarted: () => void;
  /** The task finished; `frame` is the `EndFrame`, `StopFrame` or `CancelFrame` that ended it. */
  pipelineFinished: (frame: Frame) => void;
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
 * queue, and ends it, always (DESIGN §5).
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
  readonly #observerBufferSize: number;

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
  #runPromise: Promise<void> | undefined;
  #cancelPromise: Promise<void> | undefined;
  readonly #finished: Promise<void>;
  #resolveFinished!: () => void;
  #cancelReached: (() => void) | undefined;

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
    this.#idleFrames = options.idleTimeoutFrames ?? [BotSpeakingFrame, UserSpeakingFrame];
    this.#cancelOnIdle = options.cancelOnIdleTimeout ?? true;
    this.#startTimeoutMs = checkMs("startTimeoutMs", options.startTimeoutMs ?? 20_000);
    this.#endTimeoutMs = checkMs("endTimeoutMs", options.endTimeoutMs ?? 10_000);
    this.#cancelTimeoutMs = checkMs("cancelTimeoutMs", options.cancelTimeoutMs ?? 2_000);
    this.#cleanupTimeoutMs = checkMs("cleanupTimeoutMs", options.cleanupTimeoutMs ?? 2_000);
    if (this.#idleTimeoutMs !== null) checkMs("idleTimeoutMs", this.#idleTimeoutMs);
    checkMs("params.heartbeatsPeriodMs", this.params.heartbeatsPeriodMs);
    checkMs("params.heartbeatsMonitorMs", this.params.heartbeatsMonitorMs);
    this.#observerBufferSize = options.observerBufferSize ?? 1024;
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
    this.#source.link(pipeline);
    pipeline.link(this.#sink);
    this.#finished = new Promise<void>((resolve) => {
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
    this.#dispatchers.push(new ObserverDispatcher(observer, this.logger, this.#observerBufferSize));
  }

  /** Removes an observer. */
  removeObserver(observer: Observer): void {
    const i = this.#dispatchers.findIndex((d) => d.observer === observer);
    if (i >= 0) this.#dispatchers.splice(i, 1)[0]!.close();
  }

  /** Whether the task has finished (ended, stopped or cancelled). */
  hasFinished(): boolean {
    return this.#state === "finished";
  }

  /** Every processor in the pipeline, flattened (available once `run()` has been called). */
  get processors(): readonly FrameProcessor[] {
    return this.#processors;
  }

  /**
   * Runs the task: sets processors up, sends `StartFrame`, and resolves when the task has
   * finished. Calling it again returns the same promise.
   */
  run(): Promise<void> {
    this.#runPromise ??= this.#run();
    return this.#runPromise;
  }

  /**
   * Queues `frame` into the pipeline: downstream frames enter at the head, upstream frames at
   * the tail. Throws `TaskClosedError` once the task is ending, cancelled or finished.
   * Queuing an `EndFrame` is `stopWhenDone()`; a `CancelFrame` is `cancel()`.
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
   * Guarantees: resolves when the task has finished; if the end makes no progress for
   * `endTimeoutMs` it escalates to `cancel()`, so it always resolves. Does not guarantee that
   * providers flushed their own buffers; use `cancel()` to stop now.
   */
  stopWhenDone(): Promise<void> {
    if (this.#state === "created" || this.#state === "starting" || this.#state === "running") {
      this.#state = "ending";
      this.#stopActivityTimers();
      this.#endFrame = new EndFrame();
      this.#lastEndProgress = this.clock.now();
      this.#armEndWatchdog();
      this.#inject(this.#endFrame, FrameDirection.DOWNSTREAM);
    }
    return this.#finished;
  }

  /**
   * Stops the task now. Guarantees: resolves within `cancelTimeoutMs`, whatever a processor
   * does; a processor that held it up is named in the `timeout` event. A second call returns
   * the same promise; after the task finished it resolves at once.
   */
  cancel(reason?: string): Promise<void> {
    if (this.#state === "finished") return Promise.resolve();
    this.#cancelPromise ??= this.#cancel(reason);
    return this.#cancelPromise;
  }

  // ---------------------------------------------------------------- running

  async #run(): Promise<void> {
    if (this.#state === "finished") return;
    this.#processors = flattenProcessors(this.#pipeline);
    const context: ProcessorContext = {
      clock: this.clock,
      logger: this.logger,
      taskName: this.name,
      onPush: (source, frame, direction) => this.#onPush(source, frame, direction),
      reportProgress: () => {
        this.#lastEndProgress = this.clock.now();
      },
    };
    this.#source.setup(context);
    this.#sink.setup(context);
    this.#pipeline.setup(context);
    if (this.#state === "created") this.#state = "starting";
    if (this.#state !== "cancelling") {
      const start = new StartFrame({
        audioInSampleRate: this.params.audioInSampleRate,
        audioOutSampleRate: this.params.audioOutSampleRate,
        enableMetrics: this.params.enableMetrics,
        enableUsageMetrics: this.params.enableUsageMetrics,
      });
      this.#startTimer = this.clock.setTimer(() => this.#onStartTimeout(start), this.#startTimeoutMs);
      void this.#source.pushFrame(start, FrameDirection.DOWNSTREAM);
      const pending = this.#pending;
      this.#pending = [];
      for (const [frame, direction] of pending) this.#push(frame, direction);
    }
    await this.#finished;
  }

  #inject(frame: Frame, direction: FrameDirection): void {
    if (!this.#runPromise || this.#processors.length === 0) {
      this.#pending.push([frame, direction]);
      return;
    }
    this.#push(frame, direction);
  }

  #push(frame: Frame, direction: FrameDirection): void {
    const r =
      direction === FrameDirection.DOWNSTREAM
        ? this.#source.pushFrame(frame, direction)
        : this.#sink.pushFrame(frame, direction);
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
    if (this.#state === "ending" && (frame === this.#endFrame || frame instanceof OutputAudioRawFrame)) {
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
      const event = {
        source,
        destination: direction === FrameDirection.DOWNSTREAM ? source.next : source.prev,
        frame,
        direction,
        timestampMs: this.clock.now(),
      };
      for (const d of this.#dispatchers) d.push(event);
    }
  }

  /** A frame came out of either end of the pipeline. */
  #onFrameAtEnd(frame: Frame, direction: FrameDirection): void {
    if (frame instanceof StartFrame) {
      if (direction === FrameDirection.DOWNSTREAM) this.#onStarted();
    } else if (frame instanceof EndFrame) {
      if (frame === this.#endFrame) void this.#finishGracefully(frame);
    } else if (frame instanceof StopFrame) {
      this.#finish(frame);
    } else if (frame instanceof CancelFrame) {
      this.#cancelReached?.();
    } else if (frame instanceof HeartbeatFrame) {
      this.#heartbeats?.received();
    } else if (frame instanceof ErrorFrame) {
      this.#events.emit("pipelineError", frame);
      if (frame.fatal) {
        this.logger.error(`${this.name}: fatal error from ${frame.processor ?? "a processor"}; cancelling`, {
          error: frame.error.message,
        });
        this.#later(() => void this.cancel(`fatal error: ${frame.error.message}`));
      }
    } else if (frame instanceof EndTaskFrame) {
      this.#later(() => void this.stopWhenDone());
    } else if (frame instanceof CancelTaskFrame) {
      this.#later(() => void this.cancel(frame.reason ?? "CancelTaskFrame"));
    } else if (frame instanceof StopTaskFrame) {
      this.#later(() => this.#requestStop());
    } else if (frame instanceof InterruptionTaskFrame) {
      this.#later(() => {
        if (this.#state === "running") this.#push(new InterruptionFrame(), FrameDirection.DOWNSTREAM);
      });
    }
  }

  /** Acts on a request outside the processor call that delivered it. */
  #later(fn: () => void): void {
    queueMicrotask(fn);
  }

  #requestStop(): void {
    if (this.#state !== "running" && this.#state !== "starting") return;
    this.#state = "ending";
    this.#stopActivityTimers();
    this.#inject(new StopFrame(), FrameDirection.DOWNSTREAM);
  }

  #onStarted(): void {
    this.#startTimer?.cancel();
    this.#startTimer = undefined;
    if (this.#state !== "starting") return; // ending or cancelling already
    this.#state = "running";
    this.#events.emit("pipelineStarted");
    this.#idle?.start();
    this.#heartbeats?.start();
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

  #holderOf(frame: Frame): string | undefined {
    let holder: string | undefined;
    for (const p of this.#processors) if (p.holding?.frame === frame) holder = p.name;
    return holder;
  }

  #firstBusyProcessor(): string | undefined {
    return this.#processors.find((p) => p.queuedFrames > 0)?.name;
  }

  // ---------------------------------------------------------------- ending

  async #cancel(reason?: string): Promise<void> {
    const previous = this.#state;
    this.#state = "cancelling";
    this.#stopAllTimers();
    if (previous === "created" || !this.#runPromise) {
      // Nothing was started: there is nothing to wait for.
      this.#pending = [];
      this.#finish(new CancelFrame(reason));
      return;
    }
    const deadline = this.clock.now() + this.#cancelTimeoutMs;
    const frame = new CancelFrame(reason);
    const reached = new Promise<void>((resolve) => {
      this.#cancelReached = resolve;
    });
    this.#push(frame, FrameDirection.DOWNSTREAM);
    const inTime = await this.#until(reached, deadline);
    if (!inTime) this.#timedOut("cancel", frame, this.#cancelTimeoutMs, "tearing the pipeline down anyway");
    await this.#teardownAll(deadline, "cancel");
    this.#finish(frame);
  }

  async #finishGracefully(frame: EndFrame): Promise<void> {
    if (this.#state !== "ending") return; // a cancel overtook the end
    this.#stopAllTimers();
    await this.#teardownAll(this.clock.now() + this.#cleanupTimeoutMs, "cleanup");
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

  /** Resolves true when `promise` settles before `deadline` (task clock), false otherwise. */
  #until(promise: Promise<unknown>, deadline: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = this.clock.setTimer(() => resolve(false), deadline - this.clock.now());
      promise.then(
        () => {
          timer.cancel();
          resolve(true);
        },
        () => {
          timer.cancel();
          resolve(true);
        },
      );
    });
  }

  #finish(frame: Frame): void {
    if (this.#state === "finished") return;
    this.#state = "finished";
    this.#stopAllTimers();
    this.#pending = [];
    this.#cancelReached = undefined;
    for (const d of this.#dispatchers) d.close();
    this.#events.emit("pipelineFinished", frame);
    this.#resolveFinished();
  }
}

function checkMs(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(
      `PipelineTask: ${name} must be a positive number of ms (got ${String(value)})`,
    );
  }
  return value;
}

function describeValue(value: unknown): string {
  if (value === null || typeof value !== "object") return String(value);
  return `an object of type ${value.constructor?.name ?? "Object"}`;
}
