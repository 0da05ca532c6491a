/**
 * One ticker per process and time base, shared by every output stream: streams with the same
 * chunk duration whose schedules fall in the same phase slot (`phaseQuantumMs` wide) share one
 * clock timer, so 200 sessions of 40 ms chunks cost at most `40 / phaseQuantumMs` timer wake-ups
 * per tick instead of 200 (docs/design/output-pacing.md).
 */
import type { Clock, TimerHandle } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { nextTurn } from "../clock/next-turn.js";
import { InvalidOptionError } from "../errors.js";
import { type Pacer, type PacerTiming, checkPacerTiming } from "./pacer.js";

/** Default width of a phase slot, in ms. */
export const DEFAULT_PHASE_QUANTUM_MS = 1;

/** Options of {@link SharedTickerPacer}. */
export interface SharedTickerOptions {
  /**
   * Width of a phase slot, in ms (> 0, at most the chunk duration). A stream joins the group of
   * the slot its schedule starts in; its second tick comes up to this much early.
   * @default 1
   */
  phaseQuantumMs?: number;
}

/** The groups of one time base (one VirtualClock, or every SystemClock of the process). */
interface Registry {
  readonly clock: Clock;
  readonly groups: Map<string, TickGroup>;
}

/** Every SystemClock counts the same real time (from a different origin): they share one registry. */
const SYSTEM_TIME = {};
const registries = new WeakMap<object, Registry>();

function registryFor(clock: Clock): Registry {
  const key = clock instanceof SystemClock ? SYSTEM_TIME : clock;
  let registry = registries.get(key);
  if (!registry) {
    registry = { clock, groups: new Map() };
    registries.set(key, registry);
  }
  return registry;
}

/**
 * Streams whose ticks fall at `phase + n × chunkMs` on the registry's clock. One timer, armed
 * while the group has members, for the next tick. A late timer hands every tick due by then to
 * the members in one wake-up (at most `maxCatchUpChunks + 1`); later than that it skips to the
 * current slot (counted as a re-anchor by every member).
 */
class TickGroup {
  readonly members = new Set<SharedTickerPacer>();
  #next = 0;
  #timer: TimerHandle | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly key: string,
    private readonly chunkMs: number,
    private readonly phase: number,
    private readonly maxCatchUpChunks: number,
  ) {}

  join(member: SharedTickerPacer, at: number): void {
    if (this.members.size === 0) {
      this.#next = Math.floor((at - this.phase) / this.chunkMs) + 1;
      this.members.add(member);
      this.#arm();
      return;
    }
    this.members.add(member);
  }

  leave(member: SharedTickerPacer): void {
    if (!this.members.delete(member) || this.members.size > 0) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.registry.groups.delete(this.key);
  }

  #arm(): void {
    const due = this.phase + this.#next * this.chunkMs;
    this.#timer = this.registry.clock.setTimer(() => this.#fire(), due - this.registry.clock.now());
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.registry.clock.now();
    let first = this.#next;
    let skipped = false;
    if (now - (this.phase + first * this.chunkMs) > this.maxCatchUpChunks * this.chunkMs) {
      first = Math.floor((now - this.phase) / this.chunkMs); // too late: skip to the current slot
      skipped = true;
    }
    // Every tick due by now, in this one wake-up: a late timer (a busy event loop) is caught up
    // at once, not one tick per timer turn. At most maxCatchUpChunks + 1 of them.
    const last = Math.max(first, Math.floor((now - this.phase) / this.chunkMs));
    this.#next = last + 1;
    const firstDue = this.phase + first * this.chunkMs;
    for (const member of this.members) member.onGroupTicks(firstDue, last - first + 1, skipped);
    if (this.members.size > 0) this.#arm();
  }
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

/**
 * A {@link Pacer} on the shared ticker. The first tick of a schedule comes at once (on the next
 * event-loop turn); then the stream joins the group of its phase slot and ticks with it. Ticks that
 * come while the stream is busy writing are owed to it, at most `maxCatchUpChunks` (more are
 * dropped and counted as a re-anchor), so a slow write is caught up like the per-stream
 * {@link ClockPacer} does.
 */
export class SharedTickerPacer implements Pacer {
  readonly #clock: Clock;
  readonly #registry: Registry;
  readonly #chunkMs: number;
  readonly #maxCatchUp: number;
  readonly #quantum: number;
  #group: TickGroup | undefined;
  #joinedAt = 0;
  #owed = 0;
  #overflowing = false;
  #waiter: Waiter | undefined;
  reanchors = 0;

  constructor(timing: PacerTiming, options: SharedTickerOptions = {}) {
    checkPacerTiming(timing, "SharedTickerPacer");
    const quantum = options.phaseQuantumMs ?? DEFAULT_PHASE_QUANTUM_MS;
    if (
      typeof quantum !== "number" ||
      !Number.isFinite(quantum) ||
      quantum <= 0 ||
      quantum > timing.chunkMs
    ) {
      throw new InvalidOptionError(
        `SharedTickerPacer: phaseQuantumMs must be a number of ms above 0 and at most the chunk duration ` +
          `(${timing.chunkMs} ms) (got ${String(quantum)})`,
      );
    }
    this.#clock = timing.clock;
    this.#registry = registryFor(timing.clock);
    this.#chunkMs = timing.chunkMs;
    this.#maxCatchUp = timing.maxCatchUpChunks;
    this.#quantum = quantum;
  }

  async nextTick(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    if (!this.#group) {
      // A new schedule: its first tick is due now. It comes on the next event-loop turn (never
      // synchronously), not on a timer, which Node would fire 1–2 ms later: that wait was the first
      // audio of every answer waiting for nothing (docs/design/output-pacing.md).
      await nextTurn(this.#clock, signal);
      this.#join();
      return;
    }
    if (this.#owed > 0) {
      this.#owed--;
      this.#overflowing = false;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = undefined;
        reject(signal.reason);
      };
      this.#waiter = { resolve, reject, signal, onAbort };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Called by the group when it fires: `count` ticks fell due, the first at `firstDue` (on the
   * registry's clock), one chunk apart; `skipped` if the group was so late it skipped ticks.
   */
  onGroupTicks(firstDue: number, count: number, skipped: boolean): void {
    let n = count;
    // Ticks of the slot that came before this stream joined are not its own.
    for (let due = firstDue; n > 0 && due <= this.#joinedAt; due += this.#chunkMs) n--;
    if (n === 0) return;
    if (skipped) this.reanchors++;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.resolve();
      n--;
    }
    if (n === 0) return;
    if (this.#owed + n <= this.#maxCatchUp) {
      this.#owed += n;
    } else {
      this.#owed = this.#maxCatchUp;
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.reanchors++;
      }
    }
  }

  idle(): void {
    this.#group?.leave(this);
    this.#group = undefined;
    this.#owed = 0;
    this.#overflowing = false;
  }

  dispose(): void {
    this.idle();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter.signal.removeEventListener("abort", waiter.onAbort);
  }

  #join(): void {
    const clock = this.#registry.clock;
    const at = clock.now();
    const chunk = this.#chunkMs;
    const offset = ((at % chunk) + chunk) % chunk;
    const phase = Math.floor(offset / this.#quantum) * this.#quantum;
    const key = `${chunk}|${phase}|${this.#maxCatchUp}`;
    let group = this.#registry.groups.get(key);
    if (!group) {
      group = new TickGroup(this.#registry, key, chunk, phase, this.#maxCatchUp);
      this.#registry.groups.set(key, group);
    }
    this.#joinedAt = at;
    this.#group = group;
    group.join(this, at);
  }
}

/** Groups alive on `clock`'s time base (for tests and benchmarks). */
export function sharedTickerGroups(clock: Clock): number {
  return registryFor(clock).groups.size;
}
