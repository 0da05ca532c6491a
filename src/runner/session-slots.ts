/**
 * The session count of the development server, which every thread that runs sessions checks and
 * takes from: the cap (`maxSessions`) holds over all of them, the shutdown flag reaches them at
 * once, and session ids stay unique in the process. See docs/design/dev-server.md.
 */
export interface SessionSlots {
  /** Sessions live now, over the whole server. */
  readonly live: number;
  /** The server is closing: no session may start. */
  readonly closing: boolean;
  /** Takes a slot when fewer than `max` are live; false at the cap. Atomic across threads. */
  tryTake(max: number): boolean;
  /** Gives back a slot taken by {@link tryTake} (the session has ended). */
  release(): void;
  /** The next session id (increasing from 1, unique in the process). */
  nextId(): number;
}

/** Slots of a server that runs its sessions on one thread. */
export class LocalSessionSlots implements SessionSlots {
  live = 0;
  closing = false;
  #next = 1;

  tryTake(max: number): boolean {
    if (this.live >= max) return false;
    this.live++;
    return true;
  }

  release(): void {
    this.live--;
  }

  nextId(): number {
    return this.#next++;
  }
}

// Layout of the shared counters (Int32Array): three server-wide, then two per worker.
const TOTAL = 0;
const CLOSING = 1;
const NEXT_ID = 2;
const PER_WORKER = 3;
const liveAt = (worker: number): number => PER_WORKER + 2 * worker;
const startedAt = (worker: number): number => PER_WORKER + 2 * worker + 1;

/**
 * Slots shared by the main thread and the session workers, in a `SharedArrayBuffer`: the total
 * (what the cap is checked against, taken with compare-and-swap), the closing flag, the next id,
 * and per worker its live sessions and the sessions it has started (what the main thread picks
 * the least-loaded worker by). A worker's view takes and releases for its own index.
 */
export class SharedSessionSlots implements SessionSlots {
  readonly buffer: SharedArrayBuffer;
  readonly #counters: Int32Array;
  readonly #worker: number;

  /** Counters for `workers` workers. */
  static create(workers: number): SharedSessionSlots {
    const buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (PER_WORKER + 2 * workers));
    const slots = new SharedSessionSlots(buffer, -1);
    Atomics.store(slots.#counters, NEXT_ID, 1);
    return slots;
  }

  /** A view of `buffer` for worker `worker` (-1: the main thread, which takes no slot). */
  constructor(buffer: SharedArrayBuffer, worker: number) {
    this.buffer = buffer;
    this.#counters = new Int32Array(buffer);
    this.#worker = worker;
  }

  get live(): number {
    return Atomics.load(this.#counters, TOTAL);
  }

  get closing(): boolean {
    return Atomics.load(this.#counters, CLOSING) === 1;
  }

  tryTake(max: number): boolean {
    const c = this.#counters;
    for (;;) {
      const live = Atomics.load(c, TOTAL);
      if (live >= max) return false;
      if (Atomics.compareExchange(c, TOTAL, live, live + 1) === live) break;
    }
    Atomics.add(c, liveAt(this.#worker), 1);
    Atomics.add(c, startedAt(this.#worker), 1);
    return true;
  }

  release(): void {
    Atomics.sub(this.#counters, liveAt(this.#worker), 1);
    Atomics.sub(this.#counters, TOTAL, 1);
  }

  nextId(): number {
    return Atomics.add(this.#counters, NEXT_ID, 1);
  }

  /** Refuses sessions on every thread from now on. */
  setClosing(): void {
    Atomics.store(this.#counters, CLOSING, 1);
  }

  /** Live sessions of `worker`. */
  liveOf(worker: number): number {
    return Atomics.load(this.#counters, liveAt(worker));
  }

  /** Sessions `worker`'s slot has started so far (a replacement continues the count). */
  startedOf(worker: number): number {
    return Atomics.load(this.#counters, startedAt(worker));
  }

  /** A worker is gone: its live sessions leave the total; returns how many there were. */
  dropWorker(worker: number): number {
    const lost = Atomics.exchange(this.#counters, liveAt(worker), 0);
    Atomics.sub(this.#counters, TOTAL, lost);
    return lost;
  }
}
