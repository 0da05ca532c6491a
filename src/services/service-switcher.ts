import { InvalidOptionError } from "../errors.js";
import { type Frame, FrameDirection, SPECIAL_FRAME_FLAGS } from "../frames/frame.js";
import { EndFrame, InterruptionFrame } from "../frames/lifecycle.js";
import { ServiceUpdateSettingsFrame } from "../frames/settings.js";
import { ParallelPipeline } from "../pipeline/parallel-pipeline.js";
import { ContainerEdge } from "../pipeline/pipeline.js";
import {
  FrameProcessor,
  type FrameProcessorEvents,
  type FrameProcessorOptions,
} from "../processors/frame-processor.js";
import type { ProcessorContext } from "../processors/processor-context.js";
import { ManuallySwitchServiceFrame } from "./service-switcher-frames.js";

/** Why the active service changed. */
export type ServiceSwitchReason =
  /** `switchTo()` or a `ManuallySwitchServiceFrame`. */
  | { readonly kind: "manual" }
  /** The active service failed (`error`), or was found unusable before a request reached it. */
  | { readonly kind: "failover"; readonly error: Error };

/** Events of a {@link ServiceSwitcher}. */
export interface ServiceSwitcherEvents<
  S extends FrameProcessor = FrameProcessor,
> extends FrameProcessorEvents {
  /** The active service changed from `from` to `to`. */
  switched: (from: S, to: S, reason: ServiceSwitchReason) => void;
}

/** Options of a {@link ServiceSwitcher}. */
export interface ServiceSwitcherOptions extends Pick<FrameProcessorOptions, "name"> {
  /** The service active at start. @default the first one */
  initial?: FrameProcessor;
}

/**
 * Holds several services of one kind and forwards to the active one
 * (docs/design/resilience.md). Built as a `ParallelPipeline` with one branch per service, each
 * branch `[gate, service, gate]`: a gate lets a frame into its service only while that service
 * is active, so the parallel pipeline's lifecycle synchronisation and de-duplication do the rest.
 *
 * - Frames going downstream enter the active service; frames arriving from downstream (going
 *   upstream) enter it from its other side. Whatever any service pushes leaves the switcher.
 * - `StartFrame`, `EndFrame` and `CancelFrame` reach every service and leave once, after all of
 *   them passed it; so every service connects at start, and cancel stops every one of them.
 * - `InterruptionFrame` reaches every service, so whichever has work of the interrupted turn
 *   stops it (e.g. the previous one, after a switch while it was still answering).
 * - `ServiceUpdateSettingsFrame` reaches the service it names, active or not, or every service
 *   when it names none: a standby service never misses its settings.
 * - A switch (`switchTo()`, a `ManuallySwitchServiceFrame`, a failover by a subclass) applies to
 *   the frames that arrive after it; work a service already holds stays with it.
 *
 * The base knows nothing of a service kind: a subclass says whether a service is usable
 * ({@link isUsable}), watches what its services push ({@link onServiceOutput}) and decides when
 * to {@link failOver}. `LLMSwitcher` is the one for LLMs.
 */
export class ServiceSwitcher<
  S extends FrameProcessor = FrameProcessor,
  E extends ServiceSwitcherEvents<S> = ServiceSwitcherEvents<S>,
> extends FrameProcessor<E> {
  /** The services, in failover order. */
  readonly services: readonly S[];
  readonly #inner: ParallelPipeline;
  #active: S;
  #switches = 0;
  /**
   * The end in progress (see {@link #endBlocker}): `EndFrame` reaches a service only when no
   * other service that has not passed it yet could still fail over into it, so a failover is
   * queued in its target before the target's `EndFrame`.
   */
  #ending: Ending<S> | undefined;

  constructor(services: readonly S[], options: ServiceSwitcherOptions = {}) {
    super({ name: options.name, direct: true });
    if (services.length === 0) {
      throw new InvalidOptionError(
        `${this.name}: needs at least one service, e.g. new LLMSwitcher([primary, backup])`,
      );
    }
    this.services = [...services];
    const initial = options.initial ?? services[0]!;
    if (!this.services.includes(initial as S)) {
      throw new InvalidOptionError(
        `${this.name}: options.initial (${initial.name}) is not one of its services`,
      );
    }
    this.#active = initial as S;
    this.#inner = new ParallelPipeline(
      ...this.services.map((service) => [
        new ServiceGate(`${this.name}::in(${service.name})`, FrameDirection.DOWNSTREAM, {
          admits: (frame) => this.#admits(service, frame),
          end: () => this.#mayEnd(service),
          cancel: () => this.#releaseEnd(),
        }),
        service,
        new ServiceGate(`${this.name}::out(${service.name})`, FrameDirection.UPSTREAM, {
          admits: (frame) => this.#admits(service, frame),
          leaving: (frame) => this.onServiceOutput(service, frame),
          end: () => {
            this.#ending?.passed.add(service);
            this.workMoved();
          },
        }),
      ]),
    );
    new ContainerEdge(`${this.name}::source`, (frame, direction) =>
      direction === FrameDirection.UPSTREAM ? this.#leave(frame, direction) : undefined,
    ).link(this.#inner);
    this.#inner.link(
      new ContainerEdge(`${this.name}::sink`, (frame, direction) =>
        direction === FrameDirection.DOWNSTREAM ? this.#leave(frame, direction) : undefined,
      ),
    );
  }

  /** The service frames go to now. */
  get active(): S {
    return this.#active;
  }

  /** How many times the active service changed. */
  get switches(): number {
    return this.#switches;
  }

  override get children(): readonly FrameProcessor[] {
    return [this.#inner];
  }

  override setup(context: ProcessorContext): void {
    super.setup(context);
    this.#inner.setup(context);
  }

  /**
   * Makes `service` the active one for the frames that arrive from now on. Returns false (and
   * says why in the log) when it is not one of this switcher's services or is unusable.
   */
  switchTo(service: S): boolean {
    if (!this.services.includes(service)) {
      this.logger.warn(`${this.name}: cannot switch to ${service.name}: it is not one of its services`, {
        processor: this.name,
      });
      return false;
    }
    if (service === this.#active) return true;
    if (!this.isUsable(service)) {
      this.logger.warn(
        `${this.name}: not switching to ${service.name}: it is unusable (see its earlier error)`,
        {
          processor: this.name,
        },
      );
      return false;
    }
    this.#setActive(service, { kind: "manual" });
    return true;
  }

  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    if (frame instanceof ManuallySwitchServiceFrame && this.services.includes(frame.service as S)) {
      this.switchTo(frame.service as S);
      return; // addressed to this switcher: it goes no further
    }
    if (frame instanceof EndFrame)
      this.#ending ??= { leader: this.#active, passed: new Set(), waiting: new Map() };
    else if (!this.isUsable(this.#active) && !(frame.schedulingFlags & SPECIAL_FRAME_FLAGS))
      this.#skipUnusable();
    return this.#inner.queueFrame(frame, direction);
  }

  // ---------------------------------------------------------------- for subclasses

  /** Whether `service` can still work (an LLM: `usable`). @default true */
  protected isUsable(_service: S): boolean {
    return true;
  }

  /** `frame` left `service` going downstream (called synchronously, as it leaves). */
  protected onServiceOutput(_service: S, _frame: Frame): void {}

  /**
   * The service whose work in progress could still fail over into another (an LLM: the one
   * answering the request in flight), or undefined. While an end is under way, the other services
   * get `EndFrame` only once it has passed it or its work is settled. @default undefined
   */
  protected pendingWork(): S | undefined {
    return undefined;
  }

  /**
   * Tells the switcher that {@link pendingWork} changed (a request answered, failed over, or
   * given up): an `EndFrame` held back for it may go on. Call it after queueing a failover's
   * request in its target, so the target gets the request before its `EndFrame`.
   */
  protected workMoved(): void {
    const ending = this.#ending;
    if (ending === undefined || ending.waiting.size === 0) return;
    const blocker = this.#endBlocker(ending);
    for (const [service, resolve] of [...ending.waiting]) {
      if (blocker !== undefined && blocker !== service) continue;
      ending.waiting.delete(service);
      resolve();
    }
  }

  /**
   * Makes the next usable service after `from` (in list order, wrapping around) the active one,
   * skipping those in `exclude`. Returns it, or undefined when none is left (the active service
   * stays as it is).
   */
  protected failOver(from: S, error: Error, exclude: ReadonlySet<S> = new Set()): S | undefined {
    const start = this.services.indexOf(from);
    for (let i = 1; i < this.services.length; i++) {
      const candidate = this.services[(start + i) % this.services.length]!;
      if (candidate === from || exclude.has(candidate) || !this.isUsable(candidate)) continue;
      // Already active (switched to by hand while `from` was answering): no switch to announce.
      if (candidate !== this.#active) this.#setActive(candidate, { kind: "failover", error });
      return candidate;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- internals

  #admits(service: S, frame: Frame): boolean {
    if (frame instanceof ServiceUpdateSettingsFrame && this.#holds(frame.service)) {
      return frame.service === undefined || frame.service === service.name;
    }
    return service === this.#active || frame instanceof InterruptionFrame;
  }

  /** Whether `name` is one of this switcher's services (or names none: all of them). */
  #holds(name: string | undefined): boolean {
    return name === undefined || this.services.some((s) => s.name === name);
  }

  /** Whether `service` may take `EndFrame` now (see {@link #ending}); if not, when it may. */
  #mayEnd(service: S): void | Promise<void> {
    const ending = this.#ending;
    if (ending === undefined) return;
    const blocker = this.#endBlocker(ending);
    if (blocker === undefined || blocker === service) return;
    return new Promise<void>((resolve) => ending.waiting.set(service, resolve));
  }

  /**
   * The service the others' `EndFrame` waits for: the one with work that could still fail over
   * ({@link pendingWork}), else the one that was active when the end came, until it has passed
   * `EndFrame` on. None: every service may end.
   */
  #endBlocker(ending: Ending<S>): S | undefined {
    const pending = this.pendingWork();
    if (pending !== undefined && !ending.passed.has(pending)) return pending;
    return ending.passed.has(ending.leader) ? undefined : ending.leader;
  }

  /** Cancel: no `EndFrame` waits any more. */
  #releaseEnd(): void {
    const ending = this.#ending;
    if (ending === undefined) return;
    for (const resolve of ending.waiting.values()) resolve();
    ending.waiting.clear();
  }

  /** The active service became unusable between requests: the next request goes elsewhere. */
  #skipUnusable(): void {
    const from = this.#active;
    this.failOver(from, new Error(`${from.name} is unusable (see its earlier error)`));
  }

  #setActive(to: S, reason: ServiceSwitchReason): void {
    const from = this.#active;
    this.#active = to;
    this.#switches++;
    const why = reason.kind === "manual" ? "switched by request" : `failover: ${reason.error.message}`;
    const level = reason.kind === "manual" ? "info" : "warn";
    this.logger[level](`${this.name}: ${from.name} → ${to.name} (${why})`, { processor: this.name });
    this.emit("switched", ...([from, to, reason] as Parameters<E["switched"]>));
  }

  #leave(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const target = direction === FrameDirection.DOWNSTREAM ? this.next : this.prev;
    if (target) return target.queueFrame(frame, direction);
  }
}

/** An end under way in a switcher. */
interface Ending<S> {
  /** The service active when `EndFrame` came. */
  readonly leader: S;
  /** Services that have passed `EndFrame` on. */
  readonly passed: Set<S>;
  /** Services whose `EndFrame` is held back, and what lets it go. */
  readonly waiting: Map<S, () => void>;
}

/** What a gate asks its switcher. */
interface GateHooks {
  /** Whether `frame`, travelling into the service, may enter it. */
  admits(frame: Frame): boolean;
  /** `frame` left the service going downstream. */
  leaving?(frame: Frame): void;
  /** `EndFrame` reached the gate: resolves when it may go on. */
  end?(): void | Promise<void>;
  /** `CancelFrame` reached the gate. */
  cancel?(): void;
}

/**
 * Plumbing of a switcher's branch: passes every frame, except those travelling `guarded` (into
 * its service) that the switcher refuses. Direct, so a hop is a function call.
 */
class ServiceGate extends FrameProcessor {
  constructor(
    name: string,
    private readonly guarded: FrameDirection,
    private readonly hooks: GateHooks,
  ) {
    super({ name, direct: true });
  }

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (direction === this.guarded) {
      if (!this.hooks.admits(frame)) return;
    } else if (direction === FrameDirection.DOWNSTREAM) {
      this.hooks.leaving?.(frame);
    }
    return this.pushFrame(frame, direction);
  }

  protected override end(): void | Promise<void> {
    return this.hooks.end?.();
  }

  protected override cancel(): void {
    this.hooks.cancel?.();
  }
}
