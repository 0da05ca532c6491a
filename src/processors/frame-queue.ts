import { type Frame, type FrameDirection, isUninterruptible } from "../frames/frame.js";

const MIN_CAPACITY = 16;
const SHRINK_ABOVE = 1024;

/**
 * A FIFO of (frame, direction) pairs for one processor lane: a ring buffer with one blocking
 * waiter, O(1) at both ends, no allocation per item. It shrinks back when it empties, so a burst
 * does not pin memory for the rest of the session.
 */
export class FrameQueue {
  #frames: Array<Frame | undefined> = new Array<Frame | undefined>(MIN_CAPACITY);
  #dirs: Array<FrameDirection | undefined> = new Array<FrameDirection | undefined>(MIN_CAPACITY);
  #head = 0;
  #size = 0;
  #waiter: (() => void) | undefined;
  #closed = false;
  /** Direction of the frame last returned by {@link shift}. */
  lastDirection: FrameDirection | undefined;

  get length(): number {
    return this.#size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Appends at the tail and wakes a waiting consumer. Ignored once closed. */
  push(frame: Frame, direction: FrameDirection): void {
    if (this.#closed) return;
    if (this.#size === this.#frames.length) this.#grow();
    const i = (this.#head + this.#size) & (this.#frames.length - 1);
    this.#frames[i] = frame;
    this.#dirs[i] = direction;
    this.#size++;
    this.#wake();
  }

  /** The head, without removing it; `undefined` when empty. */
  peek(): Frame | undefined {
    return this.#size === 0 ? undefined : this.#frames[this.#head];
  }

  /** Removes and returns the head, setting {@link lastDirection}; `undefined` when empty. */
  shift(): Frame | undefined {
    if (this.#size === 0) return undefined;
    const i = this.#head;
    const frame = this.#frames[i];
    this.lastDirection = this.#dirs[i];
    this.#frames[i] = undefined;
    this.#dirs[i] = undefined;
    this.#head = (i + 1) & (this.#frames.length - 1);
    this.#size--;
    if (this.#size === 0) this.#reset();
    return frame;
  }

  /**
   * Resolves when a frame is pushed or the queue is closed (at once if not empty). One waiter at
   * a time: a new waiter wakes the one before it (a lane loop replaced by a newer one).
   */
  wait(): Promise<void> {
    if (this.#size > 0 || this.#closed) return Promise.resolve();
    this.#wake();
    return new Promise<void>((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Drops every frame that is not uninterruptible, keeping the order of the rest. Returns how many were dropped. */
  dropInterruptible(): number {
    const kept: Frame[] = [];
    const keptDirs: FrameDirection[] = [];
    const mask = this.#frames.length - 1;
    for (let k = 0; k < this.#size; k++) {
      const i = (this.#head + k) & mask;
      const frame = this.#frames[i]!;
      if (isUninterruptible(frame)) {
        kept.push(frame);
        keptDirs.push(this.#dirs[i]!);
      }
    }
    const dropped = this.#size - kept.length;
    this.#reset(true);
    for (let k = 0; k < kept.length; k++) this.push(kept[k]!, keptDirs[k]!);
    return dropped;
  }

  /** Drops everything. */
  clear(): void {
    this.#reset(true);
  }

  /** Drops everything, refuses further pushes, and wakes the waiter. */
  close(): void {
    this.#closed = true;
    this.#reset(true);
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter();
    }
  }

  #reset(force = false): void {
    if (force || this.#frames.length > SHRINK_ABOVE) {
      this.#frames = new Array<Frame | undefined>(MIN_CAPACITY);
      this.#dirs = new Array<FrameDirection | undefined>(MIN_CAPACITY);
    }
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const old = this.#frames;
    const oldDirs = this.#dirs;
    const cap = old.length * 2;
    const frames = new Array<Frame | undefined>(cap);
    const dirs = new Array<FrameDirection | undefined>(cap);
    for (let k = 0; k < this.#size; k++) {
      const i = (this.#head + k) & (old.length - 1);
      frames[k] = old[i];
      dirs[k] = oldDirs[i];
    }
    this.#frames = frames;
    this.#dirs = dirs;
    this.#head = 0;
  }
}
